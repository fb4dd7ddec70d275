//! Command-line definitions (clap derive); the doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod values;

pub(crate) use values::KeyValue;

use crate::bitrix::offline::{MessageId, ProcessId};
use crate::bitrix::ratelimit::RatePreset;
use crate::bitrix::Secret;
use crate::config::env;
use crate::output::{ColorChoice, OutputFormat};
use crate::sandbox::Plan;

/// Manage Bitrix24 event subscriptions: bind, list and unbind handlers.
#[derive(Debug, Parser)]
#[command(
    name = "bx-events",
    version = env!("BX_EVENTS_VERSION"),
    disable_help_subcommand = true,
    propagate_version = true,
    max_term_width = 100,
    after_help = "Examples:\n  bx-events sandbox --save-profile sandbox   # a portal to try things on\n  bx-events bind ONCRMDEALADD https://hooks.example.com/deal\n  bx-events list -o json | jq '.[].handler'\n  bx-events unbind ONCRMDEALADD https://hooks.example.com/deal\n\nMore: `bx-events help environment`, `bx-events help exit-codes`, docs/"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts (shown under their own heading, as `gh` shows
/// inherited flags).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Profile to use (default: the current one)
    #[arg(short, long, global = true, env = env::PROFILE, hide_env_values = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Output format
    #[arg(short, long, global = true, env = env::OUTPUT, hide_env_values = true, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR]
    /// [default: ~/.config/bx-events on Linux, ~/Library/Application
    /// Support/bx-events on macOS, %APPDATA%\bx-events\config on Windows]
    // Read from the environment by hand (see `Context::new`): clap would show an
    // option set by the environment in every usage line, as if it were required.
    #[arg(long, global = true, value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
    /// Show HTTP requests on stderr (secrets masked); twice for bodies
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only data and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to use colour (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    /// Answer yes to confirmations
    #[arg(short, long, global = true)]
    pub yes: bool,
    /// Never prompt (implied when CI is set or stdin is not a terminal)
    #[arg(long, global = true, env = env::NO_INPUT, hide_env_values = true)]
    pub no_input: bool,
    /// Timeout of each HTTP request, in seconds
    #[arg(long, global = true, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// Also trust this CA certificate (PEM), e.g. an on-premise portal's own CA
    #[arg(long, global = true, env = env::CA_CERT, hide_env_values = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Keep profiles, secrets, rate-limit buckets and consume journals in this
    /// PostgreSQL database, shared by every machine of a fleet
    /// (postgres://USER@HOST:PORT/DB) [default: the config directory's files]
    #[arg(long, global = true, env = env::STORE, hide_env_values = true, value_name = "URL")]
    pub store: Option<Secret>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to a portal and manage stored credentials
    #[command(
        subcommand,
        after_help = "Examples:\n  bx-events auth login --portal https://x.bitrix24.com --client-id ID\n  bx-events auth status\n  bx-events auth switch production"
    )]
    Auth(AuthCommand),
    /// List the events the application can bind
    #[command(
        after_help = "Examples:\n  bx-events events crmdeal\n  bx-events events 'ONTASK*' --full\n  bx-events events --scope crm -o json\n  bx-events events --catalog --scope booking"
    )]
    Events(EventsArgs),
    /// Show what an event carries: scope, who may bind it, the request a handler
    /// receives, its fields and the method that fetches its object
    #[command(
        after_help = "Examples:\n  bx-events describe ONCRMDEALADD\n  bx-events describe ONTASKUPDATE ONTASKCOMMENTADD -o json\n  bx-events events --catalog --scope task"
    )]
    Describe(DescribeArgs),
    /// Bind a handler to an event (event.bind); binding twice is harmless
    #[command(
        after_help = "Examples:\n  bx-events bind ONCRMDEALADD https://hooks.example.com/deal\n  bx-events bind ONCRMDEALUPDATE --offline\n  bx-events bind ONCRMLEADADD https://h.example.com/l --auth-type 1 --dry-run"
    )]
    Bind(BindArgs),
    /// List the registered handlers (event.get)
    #[command(visible_aliases = ["get", "ls"], after_help = "Examples:\n  bx-events list\n  bx-events list --event 'ONCRMDEAL*' --online\n  bx-events list -o json | jq '.[] | select(.type == \"offline\")'")]
    List(ListArgs),
    /// Remove handlers (event.unbind)
    #[command(
        after_help = "Examples:\n  bx-events unbind ONCRMDEALADD https://hooks.example.com/deal\n  bx-events unbind ONCRMDEALUPDATE --offline\n  bx-events unbind --all --handler https://old.example.com/hook --yes"
    )]
    Unbind(UnbindArgs),
    /// Compare a subscriptions file with what the portal has bound
    #[command(
        after_help = "Examples:\n  bx-events diff\n  bx-events diff -f subscriptions.toml --prune --exit-code\n  bx-events diff --all-profiles -o json"
    )]
    Diff(DiffArgs),
    /// Bind what a subscriptions file lists and the portal lacks (--prune: unbind the rest)
    #[command(
        after_help = "Examples:\n  bx-events apply --dry-run\n  bx-events apply -f subscriptions.toml --prune --yes\n  bx-events apply --profiles acme,globex --concurrency 2\n  bx-events apply --all-profiles --concurrency 32 --yes -o json"
    )]
    Apply(ApplyArgs),
    /// Print the portal's current bindings as a subscriptions file
    #[command(
        after_help = "Examples:\n  bx-events export > bx-events.toml\n  bx-events export -p production | bx-events apply -p staging -f -"
    )]
    Export,
    /// Read, reserve, confirm and consume the offline event queue
    #[command(
        subcommand,
        after_help = "Examples:\n  bx-events offline list --all\n  bx-events offline consume --exec './handle-event.sh'\n  bx-events offline get --limit 10 -o json"
    )]
    Offline(OfflineCommand),
    /// Call any REST method and print the raw JSON answer
    #[command(
        after_help = "Examples:\n  bx-events call app.info\n  bx-events call event.offline.list 'filter[>=ID]=10'\n  echo '{\"SCOPE\":\"crm\"}' | bx-events call events --data -"
    )]
    Call(CallArgs),
    /// Deliver real portal events to a local handler, no public URL needed
    #[command(
        after_help = "Examples:\n  bx-events dev ONCRMDEALADD --forward-to http://127.0.0.1:3000/bitrix\n  bx-events dev 'ONCRMDEAL*' --forward-to http://127.0.0.1:3000/ --keep\n  bx-events dev ONCRMDEALADD --forward-to http://127.0.0.1:3000/ --replay"
    )]
    Dev(DevArgs),
    /// Check why a handler gets nothing: credentials, installation, rights,
    /// handlers, events, the offline queue
    #[command(
        after_help = "Examples:\n  bx-events doctor\n  bx-events doctor --event ONCRMDEALADD\n  bx-events doctor --handler https://hooks.example.com/b24 -o json"
    )]
    Doctor(DoctorArgs),
    /// Receive events locally: decode, verify and print what a portal sends a handler
    #[command(
        after_help = "Examples:\n  BX_EVENTS_APPLICATION_TOKEN=\"$APP_TOKEN\" bx-events listen --port 8088\n  bx-events listen --forward-to http://127.0.0.1:3000/bitrix/events\n  bx-events listen -o ndjson --save ./captured | jq .data\n  bx-events listen --capture-installs --client-id ID --secrets-from app.env"
    )]
    Listen(ListenArgs),
    /// Send a portal-style event to a handler URL
    #[command(
        after_help = "Examples:\n  bx-events trigger ONCRMDEALADD --to http://127.0.0.1:3000/ --data FIELDS.ID=7\n  BX_EVENTS_APPLICATION_TOKEN=T bx-events trigger ONTASKADD --to https://h.example/\n  bx-events trigger --from-file captured/x.json --to http://127.0.0.1:3000/"
    )]
    Trigger(TriggerArgs),
    /// Run a local Bitrix24 portal emulator for trying bx-events and testing handlers
    #[command(
        after_help = "Examples:\n  bx-events sandbox --save-profile sandbox\n  bx-events sandbox --port 8080 --rate-limit off\n  bx-events sandbox --plan basic -o json\n  bx-events sandbox --portals 100 --save-profile fleet"
    )]
    Sandbox(SandboxArgs),
    /// Help on a command, or on a topic: environment, exit-codes
    #[command(
        after_help = "Examples:\n  bx-events help environment\n  bx-events help exit-codes\n  bx-events help offline consume"
    )]
    Help(HelpArgs),
    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  bx-events completions bash > /etc/bash_completion.d/bx-events\n  bx-events completions zsh > \"${fpath[1]}/_bx-events\"\n  bx-events completions fish > ~/.config/fish/completions/bx-events.fish"
    )]
    Completions(CompletionsArgs),
    /// Prepare the shared PostgreSQL store (--store) and copy profiles into it
    #[command(
        subcommand,
        after_help = "Examples:\n  bx-events --store postgres://bx@db:5432/bx store init\n  BX_EVENTS_STORE=postgres://bx@db/bx bx-events store init --copy-profiles"
    )]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create or upgrade the store's tables (every command also does it on first
    /// use), and optionally copy this machine's profiles into it
    #[command(
        after_help = "Examples:\n  bx-events --store postgres://bx@db:5432/bx store init\n  bx-events --store postgres://bx@db:5432/bx store init --copy-profiles"
    )]
    Init(StoreInitArgs),
}

#[derive(Debug, Args)]
pub struct StoreInitArgs {
    /// Copy the profiles of the config directory's files (--config-dir) into the
    /// store; profiles the store already has are left as they are
    #[arg(long)]
    pub copy_profiles: bool,
}

impl Command {
    /// Commands that watch for Ctrl-C themselves to finish cleanly.
    pub fn stops_gracefully(&self) -> bool {
        matches!(
            self,
            Command::Offline(OfflineCommand::Consume(_)) | Command::Listen(_) | Command::Dev(_)
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// Store credentials for a portal after checking them with one call
    #[command(
        after_help = "Examples:\n  bx-events auth login --portal https://x.bitrix24.com --client-id ID\n  bx-events auth login --portal https://x.bitrix24.com --client-id ID --code C\n  bx-events auth login -p ci --portal https://x.bitrix24.com --secrets-from -\n  bx-events auth login -p hook --webhook https://x.bitrix24.com/rest/1/S/"
    )]
    Login(Box<LoginArgs>),
    /// Show every profile, whether its credentials work, and where secrets live
    #[command(
        after_help = "Examples:\n  bx-events auth status\n  bx-events auth status -o json | jq -r '.[] | select(.current) | .portal'"
    )]
    Status,
    /// Forget the credentials of the selected profile (or all with --all)
    #[command(
        after_help = "Examples:\n  bx-events auth logout\n  bx-events auth logout -p staging\n  bx-events auth logout --all --yes"
    )]
    Logout(LogoutArgs),
    /// Print an access token the portal has just accepted (refreshing it if
    /// needed), for scripts; -o json adds its expiry
    #[command(
        after_help = "Examples:\n  bx-events auth token\n  bx-events auth token -o json\n  curl -s \"https://x.bitrix24.com/rest/app.info?auth=$(bx-events auth token)\""
    )]
    Token,
    /// Make a profile the current one
    #[command(
        after_help = "Examples:\n  bx-events auth switch production\n  bx-events auth switch sandbox"
    )]
    Switch(SwitchArgs),
    /// Store many portals' tokens at once from JSON lines (the auth data of an
    /// application's installs); every line is checked before anything is written
    #[command(
        after_help = "Examples:\n  bx-events auth import installs.jsonl --client-id local.abc\n  bx-events auth import installs.jsonl --secrets-from app.env --replace\n  bx-events auth import installs.jsonl --replace -o json"
    )]
    Import(ImportArgs),
    /// Move the selected profile's secrets (or all with --all) into the OS
    /// keyring, or back into credentials.toml with --off
    #[command(
        after_help = "Examples:\n  bx-events auth keyring\n  bx-events auth keyring -p production\n  bx-events auth keyring --all --off"
    )]
    Keyring(KeyringArgs),
}

#[derive(Debug, Args)]
pub struct KeyringArgs {
    /// Every stored profile, not only the selected one
    #[arg(long)]
    pub all: bool,
    /// Move the secrets out of the keyring, back into credentials.toml
    #[arg(long)]
    pub off: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// JSON lines ('-' for stdin), one portal each: access_token, refresh_token,
    /// expires or expires_in, domain or client_endpoint, server_endpoint,
    /// member_id, application_token, scope, user_id, and optionally profile,
    /// client_id, client_secret
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The application's client id, for lines that do not name one
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Read the application's client secret from FILE as a client_secret=VALUE line
    /// (keeps it out of the process list), for lines that do not carry one
    #[arg(long, value_name = "FILE")]
    pub secrets_from: Option<PathBuf>,
    /// Replace profiles that already exist (otherwise an existing name is an error)
    #[arg(long)]
    pub replace: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Portal address, e.g. https://example.bitrix24.com
    #[arg(long, value_name = "URL")]
    pub portal: Option<String>,
    /// OAuth application client id (from the application's page in the portal)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth application client secret
    #[arg(long, value_name = "SECRET")]
    pub client_secret: Option<Secret>,
    /// Authorization code, when the browser redirect cannot reach this machine
    #[arg(long, value_name = "CODE", conflicts_with_all = ["access_token", "webhook"])]
    pub code: Option<String>,
    /// An existing access token
    #[arg(long, value_name = "TOKEN", conflicts_with = "webhook")]
    pub access_token: Option<Secret>,
    /// The refresh token that goes with --access-token
    #[arg(long, value_name = "TOKEN", requires = "access_token")]
    pub refresh_token: Option<Secret>,
    /// Incoming webhook URL: https://PORTAL/rest/USER_ID/SECRET/ (cannot manage events)
    #[arg(long, value_name = "URL", conflicts_with_all = ["client_id", "client_secret"])]
    pub webhook: Option<Secret>,
    /// OAuth server [default: https://oauth.bitrix.info]
    #[arg(long, value_name = "URL")]
    pub oauth_server: Option<String>,
    /// Local port that catches the authorization redirect (0 picks a free one)
    #[arg(long, value_name = "PORT", default_value_t = 8976)]
    pub redirect_port: u16,
    /// Client-side rate limit: standard, enterprise, off or BURST/RATE
    #[arg(long, value_name = "PRESET", value_parser = values::rate_preset)]
    pub rate_limit: Option<RatePreset>,
    /// Read secrets from FILE ('-' for stdin) as NAME=VALUE lines (client_secret,
    /// access_token, refresh_token, webhook), so they stay out of the process list
    #[arg(long, value_name = "FILE")]
    pub secrets_from: Option<std::path::PathBuf>,
    /// Keep this profile's secrets in the OS keyring (macOS Keychain, Windows
    /// Credential Manager, Secret Service) instead of credentials.toml
    #[arg(long, env = env::KEYRING, hide_env_values = true)]
    pub keyring: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Remove every profile
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct SwitchArgs {
    /// Profile to make current
    pub name: String,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show only names containing this text, or matching this glob (case-insensitive)
    pub pattern: Option<String>,
    /// Only the events of this scope (e.g. crm, task)
    #[arg(long, value_name = "SCOPE")]
    pub scope: Option<String>,
    /// Every event of the portal, not only those of the application's scopes
    #[arg(long, conflicts_with_all = ["scope", "catalog"])]
    pub full: bool,
    /// Every event bx-events knows from the REST documentation, with its scope
    /// and what it fetches; asks no portal and needs no credentials
    #[arg(long)]
    pub catalog: bool,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// Event names, e.g. ONCRMDEALADD ONTASKUPDATE (any case)
    #[arg(required = true, value_name = "EVENT")]
    pub events: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BindArgs {
    /// Event name, e.g. ONCRMDEALADD
    pub event: String,
    /// Handler URL the portal will POST to (not used with --offline)
    pub handler: Option<String>,
    /// Run the handler as this user id (0 = the user who triggered the event)
    #[arg(long, value_name = "USER_ID")]
    pub auth_type: Option<i64>,
    /// Queue the event for `event.offline.get` instead of calling a handler
    #[arg(long)]
    pub offline: bool,
    /// Offline queue connector key (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// For ONOFFLINEEVENT: notify at most once per this many seconds
    #[arg(long = "min-timeout", value_name = "SECS")]
    pub min_timeout_secs: Option<u64>,
    /// Show what would be bound without binding
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only events matching this glob, or containing this text (case-insensitive),
    /// as `events PATTERN` matches
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// Only this handler URL, or those matching a glob ('*' spans '/'), e.g.
    /// '*hooks.example.com*'
    #[arg(long, value_name = "URL")]
    pub handler: Option<String>,
    /// Only online handlers
    #[arg(long, conflicts_with = "offline")]
    pub online: bool,
    /// Only offline bindings
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct UnbindArgs {
    /// Event name (with --all: an optional glob, same as --event)
    #[arg(required_unless_present = "all")]
    pub event: Option<String>,
    /// Handler URL (required for online handlers)
    pub handler: Option<String>,
    /// Remove only the handler bound for this user id
    #[arg(long, value_name = "USER_ID")]
    pub auth_type: Option<i64>,
    /// Remove the offline binding
    #[arg(long)]
    pub offline: bool,
    /// Offline queue connector key (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// Remove every binding that matches --event and --handler, after confirmation
    #[arg(long)]
    pub all: bool,
    /// With --all: only events matching this glob
    #[arg(long = "event", value_name = "EVENT", requires = "all")]
    pub event_filter: Option<String>,
    /// With --all: only this handler URL, or those matching a glob ('*' spans '/')
    #[arg(long = "handler", value_name = "URL", requires = "all")]
    pub handler_filter: Option<String>,
    /// Show what would be removed without removing it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Method name, e.g. app.info or event.get
    pub method: String,
    /// Parameters as KEY=VALUE; PHP-style keys nest: 'filter[>=ID]=10'
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<KeyValue>,
    /// Parameters as a JSON object, or - to read it from stdin
    #[arg(long, value_name = "JSON")]
    pub data: Option<String>,
}

/// Which portals `diff` and `apply` work on.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Subscriptions file, or - for stdin [default: bx-events.toml]
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// Which stored profiles a fleet command works on, and how many at once.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Work on these stored profiles (comma-separated) instead of the active one
    #[arg(
        long,
        value_name = "A,B",
        value_delimiter = ',',
        conflicts_with_all = ["all_profiles", "profiles_from"]
    )]
    pub profiles: Vec<String>,
    /// Work on every stored profile (portals the application was uninstalled from
    /// are passed by)
    #[arg(long, conflicts_with = "profiles_from")]
    pub all_profiles: bool,
    /// Work on the profiles named in FILE, one per line ('#' starts a comment)
    #[arg(long, value_name = "FILE")]
    pub profiles_from: Option<std::path::PathBuf>,
    /// Portals worked on at the same time
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

impl FleetArgs {
    /// Whether a selection of stored profiles was asked for.
    pub fn selects(&self) -> bool {
        self.all_profiles || !self.profiles.is_empty() || self.profiles_from.is_some()
    }
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Count bindings the file does not list as drift (they would be unbound)
    #[arg(long)]
    pub prune: bool,
    /// Exit with 3 when the portal is not in sync with the file
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also unbind what the file does not list (asks first unless --yes)
    #[arg(long)]
    pub prune: bool,
    /// Print the plan without changing anything
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum OfflineCommand {
    /// List queued records without taking them (event.offline.list)
    #[command(
        after_help = "Examples:\n  bx-events offline list\n  bx-events offline list --filter 'ID>=10' --filter EVENT_NAME=ONTASKADD --all\n  bx-events offline list --errors --order ID:desc -o json"
    )]
    List(OfflineListArgs),
    /// Reserve records (event.offline.get with clear=0) and print them with the process id
    #[command(
        after_help = "Examples:\n  bx-events offline get --limit 10\n  bx-events offline get --process-id 3f2a...   # read a reservation again\n  bx-events offline get --clear   # destructive: deleted as returned"
    )]
    Get(OfflineGetArgs),
    /// Delete records of a reservation (event.offline.clear)
    #[command(
        after_help = "Examples:\n  bx-events offline clear --process-id 3f2a...\n  bx-events offline clear --process-id 3f2a... --message-id 9b1c...\n  bx-events offline clear --process-id 3f2a... --id 12 --id 13"
    )]
    Clear(OfflineClearArgs),
    /// Mark records of a reservation as failed and release them (event.offline.error)
    #[command(
        after_help = "Examples:\n  bx-events offline error --process-id 3f2a... --message-id 9b1c...\n  bx-events offline error --connector erp --process-id P --message-id 9b1c..."
    )]
    Error(OfflineErrorArgs),
    /// Deliver queued events to a command, a URL or stdout, at least once
    #[command(
        after_help = "Examples:\n  bx-events offline consume --exec './handle-event.sh'\n  bx-events offline consume --forward-to http://127.0.0.1:8080/events --follow\n  bx-events offline consume --errors --exec './retry.sh'   # failed ones again\n  bx-events offline consume --follow --exec ./handle.sh --notify-listen 0.0.0.0:8085 --notify-url https://hooks.example.com/bx   # woken by the portal"
    )]
    Consume(Box<ConsumeArgs>),
    /// Records that failed again under `consume --errors`, kept locally
    #[command(
        subcommand,
        after_help = "Examples:\n  bx-events offline dead-letter list\n  bx-events offline dead-letter replay --exec './handle-event.sh'"
    )]
    DeadLetter(DeadLetterCommand),
}

#[derive(Debug, Subcommand)]
pub enum DeadLetterCommand {
    /// Show the records kept in the dead-letter file
    #[command(
        after_help = "Examples:\n  bx-events offline dead-letter list\n  bx-events offline dead-letter list --connector erp -o json"
    )]
    List(DeadLetterListArgs),
    /// Deliver the kept records again; those delivered leave the file
    #[command(
        after_help = "Examples:\n  bx-events offline dead-letter replay --exec './handle-event.sh'\n  bx-events offline dead-letter replay --forward-to http://127.0.0.1:8080/\n  bx-events offline dead-letter replay --stdout > recovered.ndjson"
    )]
    Replay(DeadLetterReplayArgs),
}

#[derive(Debug, Args)]
pub struct DeadLetterListArgs {
    /// Dead letters of this connector's queue
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
}

#[derive(Debug, Args)]
pub struct DeadLetterReplayArgs {
    #[command(flatten)]
    pub sink: SinkArgs,
    /// Dead letters of this connector's queue
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
}

/// Where records are delivered: exactly one of a command, a URL or stdout
/// (`offline consume`, `offline dead-letter replay`).
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("sink").required(true).args(["exec", "forward_to", "stdout", "publish"])))]
pub struct SinkArgs {
    /// Run this shell command per record: the record's JSON on stdin, BX_EVENT_NAME,
    /// BX_EVENT_ID, BX_MESSAGE_ID, BX_PROCESS_ID in the environment; exit 0 = done
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// POST each record as JSON to this URL; a 2xx answer = done
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// Print each record as one JSON line on stdout
    #[arg(long)]
    pub stdout: bool,
    /// Publish each reservation into a message system and confirm only what it
    /// acknowledged: amqp://USER:PASS@HOST:PORT/VHOST?exchange=NAME&routing_key=T,
    /// redis://HOST:PORT/DB?stream=T, nats://HOST:PORT?stream=NAME&subject=T or
    /// postgres://USER@HOST:PORT/DB?table=NAME (docs/publish.md)
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
    /// Seconds a handler (--exec or --forward-to) may take per record
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub handler_timeout: u64,
}

#[derive(Debug, Args)]
pub struct OfflineListArgs {
    /// Filter as FIELD OP VALUE, OP one of = > < >= <= ~ (repeatable); fields ID,
    /// TIMESTAMP_X, EVENT_NAME, MESSAGE_ID, PROCESS_ID, ERROR
    #[arg(long, value_name = "EXPR")]
    pub filter: Vec<String>,
    /// Order as FIELD[:asc|desc]
    #[arg(long, value_name = "FIELD[:DIR]")]
    pub order: Option<String>,
    /// Only records marked as errors
    #[arg(long)]
    pub errors: bool,
    /// Queue of this connector (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// Offset of the first record
    #[arg(long, value_name = "N", conflicts_with = "all")]
    pub start: Option<u64>,
    /// Follow every page, not just the first 50 records
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct OfflineGetArgs {
    /// How many records to reserve
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    /// Read this whole reservation again instead of reserving new records (with
    /// --clear: then confirm exactly the records shown)
    #[arg(long, value_name = "ID", value_parser = ProcessId::parse)]
    pub process_id: Option<ProcessId>,
    /// Take records marked as errors
    #[arg(long)]
    pub errors: bool,
    /// Filter as FIELD OP VALUE (repeatable); fields ID, EVENT_NAME, MESSAGE_ID
    /// (the portal refuses TIMESTAMP_X here: use `offline list` for that)
    #[arg(long, value_name = "EXPR", conflicts_with = "process_id")]
    pub filter: Vec<String>,
    /// Order as FIELD[:asc|desc]
    #[arg(long, value_name = "FIELD[:DIR]", conflicts_with = "process_id")]
    pub order: Option<String>,
    /// Queue of this connector (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// Destructive read: the portal deletes the records as it returns them
    #[arg(long)]
    pub clear: bool,
}

#[derive(Debug, Args)]
pub struct OfflineClearArgs {
    /// Reservation to clear
    #[arg(long, value_name = "ID", value_parser = ProcessId::parse)]
    pub process_id: ProcessId,
    /// Clear only these records (32-character MESSAGE_ID; repeatable)
    #[arg(long, value_name = "MESSAGE_ID", conflicts_with = "id", value_parser = MessageId::parse)]
    pub message_id: Vec<MessageId>,
    /// Clear only these records by ID (repeatable)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub id: Vec<u64>,
    /// Queue of this connector (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
}

#[derive(Debug, Args)]
pub struct OfflineErrorArgs {
    /// Reservation the records belong to
    #[arg(long, value_name = "ID", value_parser = ProcessId::parse)]
    pub process_id: ProcessId,
    /// Records to mark (32-character MESSAGE_ID; repeatable)
    #[arg(long, value_name = "MESSAGE_ID", required = true, value_parser = MessageId::parse)]
    pub message_id: Vec<MessageId>,
    /// Queue of this connector (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub sink: SinkArgs,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Records reserved per request [default: 500, see docs/offline.md]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// Keep polling when the queue is empty
    #[arg(long)]
    pub follow: bool,
    /// Seconds between polls of an empty queue with --follow (backs off up to
    /// 8x) [default: 5; with --notify-listen 300, a safety net]
    #[arg(long, value_name = "SECS", value_parser = values::positive_seconds)]
    pub poll_interval: Option<f64>,
    /// With --follow: drain as soon as the portal's ONOFFLINEEVENT notification
    /// arrives, received on this address (e.g. 0.0.0.0:8085); the consumer binds
    /// the handler and removes it when it stops (docs/offline.md)
    #[arg(long, value_name = "HOST:PORT", requires = "follow")]
    pub notify_listen: Option<String>,
    /// The URL the portal POSTs notifications to, when it reaches --notify-listen
    /// through a proxy or tunnel [default: http://HOST:PORT/]
    #[arg(long, value_name = "URL", requires = "notify_listen")]
    pub notify_url: Option<String>,
    /// With --notify-listen: the binding's minTimeout, the least seconds between
    /// two notifications [default: 1]
    #[arg(long, value_name = "SECS", requires = "notify_listen", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub min_timeout: Option<u32>,
    /// Stop after delivering this many records
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: Option<u64>,
    /// Re-process records marked as errors
    #[arg(long)]
    pub errors: bool,
    /// Deliver up to N records at once with --exec or --forward-to; records of
    /// one object (event entity and FIELDS.ID) stay in queue order, others do
    /// not (1 keeps the whole queue's order)
    #[arg(long, value_name = "N", default_value_t = 1, conflicts_with_all = ["stdout", "publish"], value_parser = clap::value_parser!(u8).range(1..=64))]
    pub parallel: u8,
    /// Queue of this connector (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// Use destructive reads (clear=1) on plans without reservations: records
    /// whose delivery fails are lost
    #[arg(long)]
    pub allow_loss: bool,
    /// Adopt this reservation (left by `offline get`, a crashed run or another
    /// machine): deliver and confirm all of it, then stop
    #[arg(long, value_name = "ID", value_parser = ProcessId::parse)]
    pub process_id: Option<ProcessId>,
    /// Only these events (repeatable): each is reserved with an EVENT_NAME filter,
    /// so records of other events stay for other consumers
    #[arg(long = "event", value_name = "EVENT")]
    pub events: Vec<String>,
    /// What --forward-to POSTs: the record as JSON, or the portal's own online
    /// request (a form with event, data[...], ts and auth[...])
    #[arg(long, value_enum, default_value = "json")]
    pub format: ForwardFormat,
    /// The application's auth[application_token]: sent with --format portal, and
    /// required of --notify-listen notifications [default: the profile's, when
    /// known]
    #[arg(long, value_name = "TOKEN", env = env::APPLICATION_TOKEN, hide_env_values = true)]
    pub application_token: Option<Secret>,
    /// With --format portal: also send the profile's access token (the
    /// installer's, not the triggering user's; never the refresh token)
    #[arg(long)]
    pub with_tokens: bool,
    /// Fetch each record's object with the method the event catalogue names
    /// (50 to a batch request) and deliver it as `object` (or `object_error`)
    #[arg(long)]
    pub hydrate: bool,
}

/// The body `--forward-to` POSTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardFormat {
    /// The offline record as JSON (see docs/offline.md)
    Json,
    /// The form a portal POSTs to an online handler
    Portal,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Test this handler URL (default: every bound online handler)
    #[arg(long, value_name = "URL")]
    pub handler: Option<String>,
    /// Check this event: in scope, bound, queued records
    #[arg(long, value_name = "EVENT")]
    pub event: Option<String>,
    /// The application token handlers should check (also tests that a wrong one
    /// is refused) [default: the profile's, when known]
    #[arg(long, value_name = "TOKEN", env = env::APPLICATION_TOKEN, hide_env_values = true)]
    pub application_token: Option<Secret>,
}

#[derive(Debug, Args)]
pub struct DevArgs {
    /// Events to deliver; globs such as 'ONCRMDEAL*' are expanded against `events`
    #[arg(required = true, value_name = "EVENT")]
    pub events: Vec<String>,
    /// The local handler each event is POSTed to
    #[arg(long, value_name = "URL")]
    pub forward_to: String,
    /// auth[application_token] to send [default: the profile's, when known]
    #[arg(long, value_name = "TOKEN", env = env::APPLICATION_TOKEN, hide_env_values = true)]
    pub application_token: Option<Secret>,
    /// Offline queue connector key (auth_connector)
    #[arg(long, value_name = "KEY")]
    pub connector: Option<String>,
    /// Also send the profile's access token (the installer's, not the triggering
    /// user's; never the refresh token)
    #[arg(long)]
    pub with_tokens: bool,
    /// POST the portal's online form (portal) or the offline record as JSON (json)
    #[arg(long, value_enum, default_value = "portal")]
    pub format: ForwardFormat,
    /// Leave the offline bindings dev made in place when it stops
    #[arg(long)]
    pub keep: bool,
    /// Deliver again the events whose delivery failed earlier (the queue keeps
    /// them as errors), then stop
    #[arg(long)]
    pub replay: bool,
    /// Seconds between polls of an empty queue (backs off up to 8x while idle)
    #[arg(long, value_name = "SECS", default_value_t = 2.0, value_parser = values::positive_seconds)]
    pub poll_interval: f64,
    /// Seconds the handler may take per event
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub handler_timeout: u64,
    /// Deliver up to N events at once; events of one object stay in order
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=64))]
    pub parallel: u8,
    /// Fetch each record's object with the method the event catalogue names and
    /// send it beside the record (`object[...]`, or `object_error`)
    #[arg(long)]
    pub hydrate: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SandboxArgs {
    #[command(subcommand)]
    pub command: Option<SandboxCommand>,
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Save the sandbox's OAuth credentials as this profile and make it current
    #[arg(long, value_name = "NAME")]
    pub save_profile: Option<String>,
    /// The portal's plan (basic lacks extended offline handling and connectors)
    #[arg(long, value_enum, default_value = "professional")]
    pub plan: Plan,
    /// The portal's request limit: standard, enterprise, off or BURST/RATE
    #[arg(long, value_name = "PRESET", default_value = "standard", value_parser = values::rate_preset)]
    pub rate_limit: RatePreset,
    /// Lifetime of access tokens in seconds
    #[arg(long, value_name = "SECS", default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..))]
    pub token_ttl: i64,
    /// Application token sent to handlers, for `listen --application-token` [default: random]
    #[arg(long, value_name = "TOKEN")]
    pub application_token: Option<Secret>,
    /// Inject a fault from the start: KIND[:COUNT][@METHOD], e.g. query_limit:3@event.get
    /// (kinds: query_limit, operation_time_limit, server_error, bad_gateway, slow, drop, lose_answer, expired_token;
    /// METHOD oauth.token for the OAuth server's token endpoint)
    #[arg(long, value_name = "SPEC")]
    pub fault: Vec<crate::sandbox::faults::Fault>,
    /// Also call handlers that are not on this machine (by default only loopback
    /// handlers are called, so the sandbox never reaches the internet)
    #[arg(long)]
    pub external_delivery: bool,
    /// Keep credentials, bindings and the offline queue in this file across restarts
    #[arg(long, value_name = "FILE")]
    pub state: Option<std::path::PathBuf>,
    /// Report the application's installation as unfinished (app.info INSTALLED
    /// false), as a portal does before the app calls installFinish
    #[arg(long)]
    pub not_installed: bool,
    /// Serve this many independent portals, each on its own port, with one
    /// application installed on all (with --save-profile NAME: NAME-1 ... NAME-N)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub portals: u32,
    /// The application's scopes, comma-separated, or `all` for every scope of the
    /// event catalogue [default: crm,task,user]
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 8088)]
    pub port: u16,
    /// Accept only requests whose auth[application_token] equals this (401 otherwise)
    #[arg(long, value_name = "TOKEN", env = env::APPLICATION_TOKEN, hide_env_values = true)]
    pub application_token: Option<Secret>,
    /// Pass each accepted request on, body and content type unchanged
    #[arg(long, value_name = "URL")]
    pub forward_to: Option<String>,
    /// Run this shell command per accepted event, the decoded event as JSON on stdin
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
    /// Save each accepted request (secrets masked) in this directory, for
    /// `trigger --from-file`
    #[arg(long, value_name = "DIR")]
    pub save: Option<std::path::PathBuf>,
    /// With --save, also save requests rejected for a wrong application token
    #[arg(long, requires = "save")]
    pub save_rejected: bool,
    /// With --save, stop saving once the saved files of this run reach this many MB
    #[arg(long, value_name = "MB", default_value_t = 100, requires = "save")]
    pub save_budget: u64,
    /// Most --exec commands running at once; further events wait their turn
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub max_exec: u32,
    /// Seconds an --exec command may take per request; then its process group is killed
    #[arg(long, value_name = "SECS", default_value_t = 60, requires = "exec")]
    pub handler_timeout: u64,
    /// Seconds a client may take to send a request's headers, and may stay idle
    /// between requests, before its connection is closed
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,
    /// Store a profile per portal from ONAPPINSTALL and ONAPPUPDATE (verified by
    /// exchanging the refresh token at --oauth-server), and mark it uninstalled on
    /// ONAPPUNINSTALL (verified by its stored application token)
    #[arg(long, requires = "client_id")]
    pub capture_installs: bool,
    /// With --capture-installs: the application's client id
    #[arg(long, value_name = "ID", env = env::CLIENT_ID)]
    pub client_id: Option<String>,
    /// With --capture-installs: read the application's client secret from FILE as
    /// a client_secret=VALUE line [default: $BX_EVENTS_CLIENT_SECRET]
    #[arg(long, value_name = "FILE", requires = "capture_installs")]
    pub secrets_from: Option<std::path::PathBuf>,
    /// With --capture-installs: the OAuth server the application trusts
    #[arg(long, value_name = "URL", env = env::OAUTH_SERVER, default_value = crate::bitrix::auth::DEFAULT_OAUTH_SERVER)]
    pub oauth_server: String,
}

#[derive(Debug, Args)]
pub struct TriggerArgs {
    /// Event name, e.g. ONCRMDEALADD (not needed with --from-file)
    #[arg(required_unless_present = "from_file")]
    pub event: Option<String>,
    /// Handler URL to send the event to
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Event data as KEY=VALUE with dotted paths (FIELDS.ID=7), repeatable
    #[arg(long, value_name = "KEY=VALUE", conflicts_with = "from_file")]
    pub data: Vec<KeyValue>,
    /// auth[application_token] to send (what your handler checks)
    #[arg(long, value_name = "TOKEN", env = env::APPLICATION_TOKEN, hide_env_values = true)]
    pub application_token: Option<Secret>,
    /// event_handler_id to send
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub handler_id: u64,
    /// auth[domain] to send
    #[arg(long, value_name = "HOST", default_value = "example.bitrix24.com")]
    pub domain: String,
    /// Send JSON instead of the portal's form encoding
    #[arg(long)]
    pub json: bool,
    /// Replay a request saved by `listen --save`
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SandboxCommand {
    /// Make a change on a running sandbox: queue records for offline bindings and
    /// call the online handlers of the event
    #[command(
        after_help = "Examples:\n  bx-events sandbox fire ONCRMDEALADD --data FIELDS.ID=7\n  bx-events sandbox fire ONCRMDEALUPDATE --data 'FIELDS.ID={N}' --count 1000\n  bx-events sandbox fire ONTASKADD --url http://127.0.0.1:8080"
    )]
    Fire(FireArgs),
    /// Show the sandbox's latest deliveries to online handlers
    #[command(
        after_help = "Examples:\n  bx-events sandbox log\n  bx-events sandbox log -o json | jq '.[] | select(.status != 200)'"
    )]
    Log(SandboxLogArgs),
    /// Make a running sandbox misbehave for the next requests
    #[command(
        after_help = "Examples:\n  bx-events sandbox fault query_limit --count 3\n  bx-events sandbox fault drop --method event.offline.clear\n  bx-events sandbox fault slow --delay-ms 5000\n  bx-events sandbox fault --clear"
    )]
    Fault(FaultArgs),
    /// Install (or update, or uninstall) the application on the sandbox's portals:
    /// each portal sends its lifecycle event, with fresh tokens, to a handler
    #[command(
        after_help = "Examples:\n  bx-events sandbox install --to http://127.0.0.1:8088/\n  bx-events sandbox install --to http://127.0.0.1:8088/ --portal 3\n  bx-events sandbox install --to http://127.0.0.1:8088/ --event uninstall"
    )]
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// What to do to the requests
    #[arg(value_enum, required_unless_present = "clear")]
    pub kind: Option<crate::sandbox::faults::FaultKind>,
    /// How many requests it applies to
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub count: u32,
    /// Only requests of this method (e.g. event.get)
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Delay for `slow` (default 2000), or how long `lose_answer` holds the
    /// answer it then loses (default 0), in milliseconds
    #[arg(long, value_name = "MS")]
    pub delay_ms: Option<u64>,
    /// Remove every injected fault instead
    #[arg(long, conflicts_with = "kind")]
    pub clear: bool,
    /// Sandbox address [default: the active profile's portal]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct SandboxLogArgs {
    /// Sandbox address [default: the active profile's portal]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct FireArgs {
    /// Event name, e.g. ONCRMDEALADD
    pub event: String,
    /// Event data as KEY=VALUE with dotted paths (FIELDS.ID=7); {N} in a value
    /// becomes the event's number (1, 2, ... with --count)
    #[arg(long, value_name = "KEY=VALUE")]
    pub data: Vec<KeyValue>,
    /// Fire the event this many times
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub count: u64,
    /// Sandbox address [default: the active profile's portal]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// On this portal of a `sandbox --portals N` (1 to N) [default: the one at --url]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub portal: Option<u64>,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The application's install handler, e.g. a `listen --capture-installs`
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Which lifecycle event happens
    #[arg(long, value_enum, default_value = "install")]
    pub event: crate::sandbox::Lifecycle,
    /// Only on this portal (1 to N) [default: every portal of the sandbox]
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    pub portal: Option<u64>,
    /// Sandbox address (any of its portals) [default: the active profile's portal]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
}

#[derive(Debug, Args)]
pub struct HelpArgs {
    /// `environment`, `exit-codes`, or a command such as `offline consume`
    pub topic: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// Shell to generate the script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// The completion script for `shell`. clap_complete's bash script names its
/// dispatch arms after the binary with `-` turned into `__subcmd__`
/// (`bx__subcmd__events__subcmd__bind`) while its word loop sets `cmd` to
/// `bx__events__subcmd__bind`, so nothing past the first word completed; the arms
/// are renamed to what the loop sets.
pub fn completion_script(shell: clap_complete::Shell, command: &mut clap::Command) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, command, "bx-events", &mut script);
    let script = String::from_utf8_lossy(&script).into_owned();
    if shell == clap_complete::Shell::Bash {
        script.replace("bx__subcmd__events", "bx__events")
    } else {
        script
    }
}
