//! `offline consume --publish URL`: records go into a real message system and
//! are confirmed to the portal only after it acknowledged them.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::brokers::{Nats, Rabbit, Redis};
use crate::common::{bare_process, eventually, run, TestEnv};
use crate::postgres::{database, psql, RestartableServer};
use bx_events::internal::env;
use serde_json::json;

/// A sandbox with an offline binding and `count` queued records (FIELDS.ID 1..).
fn queued(count: u64) -> TestEnv {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    for id in 1..=count {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": id.to_string()}}));
    }
    env
}

/// Rows of the table (0 while the consumer has not created it yet).
fn rows(url: &str, table: &str) -> u64 {
    let exists = psql(url, &format!("SELECT to_regclass('{table}') IS NOT NULL"));
    if exists != "t" {
        return 0;
    }
    psql(url, &format!("SELECT count(*) FROM {table}"))
        .parse()
        .unwrap()
}

/// A running `offline consume --follow --publish TARGET`, polling every 0.2 s;
/// its stderr piped when asked for.
fn follower(env: &TestEnv, target: &str, stderr: Stdio) -> std::process::Child {
    bare_process()
        .env(env::CONFIG_DIR, env.config_dir())
        .args([
            "offline",
            "consume",
            "--follow",
            "--poll-interval",
            "0.2",
            "--publish",
            target,
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// The lines a child writes on stderr, as they come.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    lines
}

/// Ctrl-C, and the exit code.
fn interrupt(mut child: std::process::Child) -> Option<i32> {
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap().code()
}

/// A consume that dies as kill -9 would right after the system acknowledged
/// its batch, before the journal heard of it: nothing may be confirmed.
fn kill_after_the_acknowledgement(env: &TestEnv, target: &str, queued: usize) {
    let output = env
        .cmd()
        .env("BX_EVENTS_TEST_FAILPOINT", "publish-after-ack")
        .args(["offline", "consume", "--publish", target])
        .output()
        .unwrap();
    assert!(!output.status.success(), "the failpoint killed it");
    assert_eq!(
        env.sandbox.portal.offline_count(),
        queued,
        "nothing confirmed"
    );
}

/// The next run: it resumes the reservation, publishes it again and confirms it.
fn resume(env: &TestEnv, target: &str) {
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", target]));
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("Resuming reservation"), "{stderr}");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

/// Queues a record while the system is away, and checks that the consumer
/// reserved it and confirmed nothing.
fn queue_while_away(env: &TestEnv, id: &str) {
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": id}}));
    assert!(eventually(30, || env
        .sandbox
        .portal
        .offline_rows()
        .iter()
        .any(|row| row.process_id.is_some())));
    assert_eq!(
        env.sandbox.portal.offline_count(),
        1,
        "not confirmed while away"
    );
}

#[test]
fn records_become_rows_of_a_table_and_are_confirmed_after_the_commit() {
    let env = queued(3);
    let db = database();
    let target = format!("{db}?table=inbox");
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows(&db, "inbox"), 3);
    assert_eq!(env.sandbox.portal.offline_count(), 0, "confirmed");
    let member = env.sandbox.credentials.member_id.clone();
    let row = psql(
        &db,
        "SELECT identity, event, member_id, body->'data'->'FIELDS'->>'ID' FROM inbox ORDER BY record_id LIMIT 1",
    );
    assert_eq!(row, format!("{member}:1|ONCRMDEALADD|{member}|1"));
    let message_ids = psql(&db, "SELECT count(DISTINCT message_id) FROM inbox");
    assert_eq!(message_ids, "3");
}

#[test]
fn a_later_identical_change_is_a_new_row_not_a_duplicate() {
    // The portal gives an identical later change the same MESSAGE_ID; it is a
    // new queue row, and a new event.
    let env = queued(1);
    let db = database();
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &db]));
    assert_eq!(code, 0, "{stderr}");
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "1"}}));
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &db]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(rows(&db, "bx_events_inbox"), 2);
    assert_eq!(
        psql(
            &db,
            "SELECT count(DISTINCT message_id) FROM bx_events_inbox"
        ),
        "1"
    );
}

#[test]
fn a_kill_after_the_commit_publishes_nothing_twice_and_loses_nothing() {
    let env = queued(5);
    let db = database();
    kill_after_the_acknowledgement(&env, &db, 5);
    assert_eq!(rows(&db, "bx_events_inbox"), 5, "committed before the kill");
    resume(&env, &db);
    assert_eq!(
        rows(&db, "bx_events_inbox"),
        5,
        "published again, kept once"
    );
}

#[test]
fn a_refused_batch_becomes_error_records() {
    let env = queued(2);
    let db = database();
    let target = format!("{db}?table=inbox");
    // The table exists and refuses rows (as a permission or constraint would).
    psql(
        &db,
        "CREATE TABLE inbox (identity text PRIMARY KEY, message_id text NOT NULL, event text NOT NULL,
           portal text NOT NULL, member_id text NOT NULL, record_id bigint NOT NULL, queued_at text NOT NULL,
           published_at timestamptz NOT NULL DEFAULT now(), body jsonb NOT NULL);
         CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'inbox is closed'; END $$;
         CREATE TRIGGER refuse BEFORE INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION refuse();",
    );
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("inbox is closed"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert_eq!(rows.len(), 2, "kept in the queue");
    assert!(rows.iter().all(|row| row.error), "as error records");
}

#[test]
fn a_message_system_down_at_start_stops_the_run_before_anything_is_reserved() {
    let env = queued(2);
    let refused = crate::common::refused_port();
    for target in [
        format!("postgres://app:s3cret@127.0.0.1:{}/db", refused.port),
        format!("redis://:s3cret@127.0.0.1:{}/0", refused.port),
        format!("nats://app:s3cret@127.0.0.1:{}", refused.port),
        format!("amqp://app:s3cret@127.0.0.1:{}/%2f", refused.port),
    ] {
        let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
        assert_eq!(code, 1, "{stderr}");
        assert!(
            stderr.contains(&format!("127.0.0.1:{}", refused.port)),
            "{stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "the password is never shown: {stderr}"
        );
        assert!(stderr.contains("nothing was reserved"), "{stderr}");
    }
    let stats = env.sandbox.portal.stats();
    assert_eq!(
        stats.methods.get("event.offline.get"),
        None,
        "nothing reserved"
    );
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--publish", "kafka://127.0.0.1:9092/"]));
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_follower_waits_for_a_restarted_database_and_loses_nothing() {
    let env = queued(2);
    let mut server = RestartableServer::start();
    let db = server.database();
    let mut child = follower(&env, &db, Stdio::piped());
    let lines = stderr_lines(&mut child);
    assert!(eventually(30, || rows(&db, "bx_events_inbox") == 2));
    server.restart();
    for id in 3..=4 {
        env.sandbox
            .portal
            .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": id.to_string()}}));
    }
    assert!(
        eventually(60, || rows(&db, "bx_events_inbox") == 4),
        "published after the restart"
    );
    assert!(eventually(10, || env.sandbox.portal.offline_count() == 0));
    assert_eq!(interrupt(child), Some(130));
    let said: Vec<String> = lines.try_iter().collect();
    assert!(
        said.iter().any(|l| l.contains("reachable again")),
        "the outage was ridden out: {said:?}"
    );
}

#[test]
fn records_become_stream_entries_with_routing_fields() {
    let env = queued(3);
    let redis = Redis::start();
    let target = redis.url("?stream=bx.{event}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(redis.cli(&["XLEN", "bx.ONCRMDEALADD"]).unwrap(), "3");
    let entry = redis
        .cli(&["XRANGE", "bx.ONCRMDEALADD", "-", "+", "COUNT", "1"])
        .unwrap();
    for field in [
        "event",
        "portal",
        "member_id",
        "message_id",
        "record_id",
        "timestamp",
        "body",
    ] {
        assert!(entry.lines().any(|l| l == field), "{field} in {entry}");
    }
    assert!(entry.contains("ONCRMDEALADD"), "{entry}");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn a_kill_after_the_acknowledgement_adds_no_stream_entry_twice() {
    let env = queued(4);
    let redis = Redis::start();
    let target = redis.url("");
    kill_after_the_acknowledgement(&env, &target, 4);
    assert_eq!(redis.cli(&["XLEN", "bx-events"]).unwrap(), "4");
    resume(&env, &target);
    assert_eq!(
        redis.cli(&["XLEN", "bx-events"]).unwrap(),
        "4",
        "no entry twice"
    );
}

#[test]
fn a_refused_entry_becomes_an_error_record() {
    let env = queued(1);
    let redis = Redis::start();
    // The stream's name is taken by a key of another type.
    redis.cli(&["SET", "bx-events", "not a stream"]).unwrap();
    let (code, _, stderr) =
        run(env
            .cmd()
            .args(["offline", "consume", "--publish", &redis.url("")]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("WRONGTYPE"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert!(rows.len() == 1 && rows[0].error, "an error record");
}

#[test]
fn a_follower_waits_for_redis_to_come_back() {
    let env = queued(1);
    let mut redis = Redis::start();
    let target = redis.url("");
    let child = follower(&env, &target, Stdio::null());
    assert!(eventually(30, || redis
        .cli(&["XLEN", "bx-events"])
        .as_deref()
        == Some("1")));
    assert!(eventually(10, || env.sandbox.portal.offline_count() == 0));
    redis.stop();
    queue_while_away(&env, "2");
    redis.start_again();
    assert!(
        eventually(60, || redis.cli(&["XLEN", "bx-events"]).as_deref()
            == Some("1")),
        "published into the restarted (empty) server"
    );
    assert!(eventually(10, || env.sandbox.portal.offline_count() == 0));
    assert_eq!(interrupt(child), Some(130));
}

#[test]
fn a_hung_redis_is_given_up_on_and_published_to_once_it_answers() {
    let env = queued(1);
    let redis = Redis::start();
    let target = redis.url("");
    let mut child = follower(&env, &target, Stdio::piped());
    let lines = stderr_lines(&mut child);
    assert!(eventually(30, || env.sandbox.portal.offline_count() == 0));
    // Frozen: connections stay open and nothing answers (a hang, not a refusal).
    redis.hang();
    queue_while_away(&env, "2");
    // Bounded: without a limit of its own the consumer would wait forever.
    let gave_up = std::iter::from_fn(|| lines.recv_timeout(Duration::from_secs(60)).ok())
        .find(|line| line.contains("no answer within"))
        .expect("the consumer said it gave up on the hung server");
    assert!(gave_up.contains("retrying"), "{gave_up}");
    assert_eq!(env.sandbox.portal.offline_count(), 1, "nothing confirmed");
    redis.wake();
    assert!(
        eventually(90, || env.sandbox.portal.offline_count() == 0),
        "published once the server answered again"
    );
    // The batch sent to the frozen server ran when it woke; the one sent
    // again after it found the record's identity and added nothing.
    assert_eq!(redis.cli(&["XLEN", "bx-events"]).unwrap(), "2");
    assert_eq!(interrupt(child), Some(130));
}

#[test]
fn records_become_jetstream_messages_with_routing_headers() {
    let env = queued(3);
    let nats = Nats::start();
    let target = nats.url("?stream=BX&subject=bx.{event}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(nats.messages("BX"), 3);
    let member = env.sandbox.credentials.member_id.clone();
    let (subject, id, event, body) = nats.with_jetstream(async |jetstream| {
        let stream = jetstream.get_stream("BX").await.unwrap();
        let first = stream.get_raw_message(1).await.unwrap();
        let header = |name: &str| first.headers.get(name).unwrap().to_string();
        (
            first.subject.to_string(),
            header("Nats-Msg-Id"),
            header("Bx-Event"),
            String::from_utf8(first.payload.to_vec()).unwrap(),
        )
    });
    assert_eq!(subject, "bx.ONCRMDEALADD");
    assert_eq!(id, format!("{member}:1"));
    assert_eq!(event, "ONCRMDEALADD");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["data"]["FIELDS"]["ID"], "1");
    assert_eq!(env.sandbox.portal.offline_count(), 0);
}

#[test]
fn a_kill_after_the_acknowledgement_adds_no_jetstream_message_twice() {
    let env = queued(4);
    let nats = Nats::start();
    let target = nats.url("");
    kill_after_the_acknowledgement(&env, &target, 4);
    assert_eq!(nats.messages("bx-events"), 4);
    resume(&env, &target);
    assert_eq!(
        nats.messages("bx-events"),
        4,
        "the stream dropped the repeats"
    );
}

#[test]
fn a_subject_no_stream_takes_becomes_error_records() {
    let env = queued(1);
    let nats = Nats::start();
    nats.with_jetstream(async |jetstream| {
        jetstream
            .create_stream(async_nats::jetstream::stream::Config {
                name: "OTHER".into(),
                subjects: vec!["other.>".into()],
                ..Default::default()
            })
            .await
            .unwrap();
    });
    let target = nats.url("?stream=OTHER&subject=bx.{event}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no stream takes this subject"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert!(rows.len() == 1 && rows[0].error, "an error record");
}

#[test]
fn a_follower_waits_for_nats_to_come_back() {
    let env = queued(1);
    let mut nats = Nats::start();
    let target = nats.url("");
    let child = follower(&env, &target, Stdio::null());
    assert!(eventually(30, || env.sandbox.portal.offline_count() == 0));
    assert_eq!(nats.messages("bx-events"), 1);
    nats.stop();
    queue_while_away(&env, "2");
    nats.start_again();
    assert!(
        eventually(90, || env.sandbox.portal.offline_count() == 0),
        "published once the server was back"
    );
    assert_eq!(nats.messages("bx-events"), 2, "each record once");
    assert_eq!(interrupt(child), Some(130));
}

#[test]
fn records_become_persistent_messages_on_a_topic_exchange_and_unroutable_ones_error_records() {
    let env = queued(3);
    let rabbit = Rabbit::start();
    rabbit.bound_queue("bitrix", "deals");
    let target = rabbit.url("?exchange=bitrix&routing_key=crm.{event}");
    let (code, _, stderr) = run(env.cmd().args(["offline", "consume", "--publish", &target]));
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("guest:guest"), "{stderr}");
    let taken = rabbit.drain("deals");
    assert_eq!(taken.len(), 3);
    let member = env.sandbox.credentials.member_id.clone();
    let (routing_key, message_id, identity, body) = &taken[0];
    assert_eq!(routing_key, "crm.ONCRMDEALADD");
    assert_eq!(message_id.len(), 32, "the portal's MESSAGE_ID");
    assert_eq!(identity, &format!("{member}:1"));
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["data"]["FIELDS"]["ID"], "1");
    assert_eq!(env.sandbox.portal.offline_count(), 0);

    // An exchange no queue is bound to returns the message: an error record.
    env.sandbox
        .portal
        .enqueue("ONCRMDEALADD", &json!({"FIELDS": {"ID": "9"}}));
    let nowhere = rabbit.url("?exchange=nowhere");
    let (code, _, stderr) = run(env
        .cmd()
        .args(["offline", "consume", "--publish", &nowhere]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no queue is bound"), "{stderr}");
    let rows = env.sandbox.portal.offline_rows();
    assert!(rows.len() == 1 && rows[0].error, "an error record");
}

#[test]
fn a_kill_after_the_confirms_repeats_at_most_one_reservation_with_the_same_ids() {
    let env = queued(3);
    let rabbit = Rabbit::start();
    rabbit.bound_queue("bx-events", "all");
    let target = rabbit.url("");
    kill_after_the_acknowledgement(&env, &target, 3);
    resume(&env, &target);
    let taken = rabbit.drain("all");
    assert_eq!(taken.len(), 6, "the reservation twice, nothing lost");
    let mut identities: Vec<&String> = taken.iter().map(|(_, _, identity, _)| identity).collect();
    identities.sort();
    identities.dedup();
    assert_eq!(identities.len(), 3, "repeats carry the same identity");
}

#[test]
fn a_follower_waits_for_rabbitmq_to_come_back() {
    let env = queued(1);
    let mut rabbit = Rabbit::start();
    rabbit.bound_queue("bx-events", "all");
    let target = rabbit.url("");
    let child = follower(&env, &target, Stdio::null());
    assert!(eventually(30, || env.sandbox.portal.offline_count() == 0));
    rabbit.stop();
    queue_while_away(&env, "2");
    rabbit.start_again();
    assert!(
        eventually(120, || env.sandbox.portal.offline_count() == 0),
        "published once the broker was back"
    );
    let taken = rabbit.drain("all");
    assert!(
        taken
            .iter()
            .any(|(_, _, identity, _)| identity.ends_with(":2")),
        "the durable queue holds the record published after the restart: {taken:?}"
    );
    assert_eq!(interrupt(child), Some(130));
}
