
use builtin;
use str;

set edit:completion:arg-completer[bx-events] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'bx-events'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'bx-events'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand auth 'Log in to a portal and manage stored credentials'
            cand events 'List the events the application can bind'
            cand bind 'Bind a handler to an event (event.bind); binding twice is harmless'
            cand list 'List the registered handlers (event.get)'
            cand get 'List the registered handlers (event.get)'
            cand ls 'List the registered handlers (event.get)'
            cand unbind 'Remove handlers (event.unbind)'
            cand offline 'Read, reserve, confirm and consume the offline event queue'
            cand call 'Call any REST method and print the raw JSON answer'
            cand sandbox 'Run a local Bitrix24 portal emulator for trying bx-events and testing handlers'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;auth'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand login 'Store credentials for a portal after checking them with one call'
            cand status 'Show every profile, whether its credentials work, and where secrets live'
            cand logout 'Forget the credentials of the selected profile (or all with --all)'
            cand token 'Print a valid access token (refreshing it if needed), for scripts'
            cand switch 'Make a profile the current one'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;auth;login'= {
            cand --portal 'Portal address, e.g. https://example.bitrix24.com'
            cand --client-id 'OAuth application client id (from the application''s page in the portal)'
            cand --client-secret 'OAuth application client secret'
            cand --code 'Authorization code, when the browser redirect cannot reach this machine'
            cand --access-token 'An existing access token'
            cand --refresh-token 'The refresh token that goes with --access-token'
            cand --webhook 'Incoming webhook URL: https://PORTAL/rest/USER_ID/SECRET/ (cannot manage events)'
            cand --oauth-server 'OAuth server [default: https://oauth.bitrix.info]'
            cand --redirect-port 'Local port that catches the authorization redirect'
            cand --rate-limit 'Client-side rate limit: standard, enterprise, off or BURST/RATE'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;auth;status'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;auth;logout'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --all 'Remove every profile'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;auth;token'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;auth;switch'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;auth;help'= {
            cand login 'Store credentials for a portal after checking them with one call'
            cand status 'Show every profile, whether its credentials work, and where secrets live'
            cand logout 'Forget the credentials of the selected profile (or all with --all)'
            cand token 'Print a valid access token (refreshing it if needed), for scripts'
            cand switch 'Make a profile the current one'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;auth;help;login'= {
        }
        &'bx-events;auth;help;status'= {
        }
        &'bx-events;auth;help;logout'= {
        }
        &'bx-events;auth;help;token'= {
        }
        &'bx-events;auth;help;switch'= {
        }
        &'bx-events;auth;help;help'= {
        }
        &'bx-events;events'= {
            cand --scope 'Only the events of this scope (e.g. crm, task)'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --full 'Every event of the portal, not only those of the application''s scopes'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;bind'= {
            cand --auth-type 'Run the handler as this user id (0 = the user who triggered the event)'
            cand --connector 'Offline queue connector key (auth_connector)'
            cand --min-timeout 'For ONOFFLINEEVENT: notify at most once per this many seconds'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --offline 'Queue the event for `event.offline.get` instead of calling a handler'
            cand --dry-run 'Show what would be bound without binding'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;list'= {
            cand --event 'Only events matching this glob or name (case-insensitive)'
            cand --handler 'Only handlers whose URL contains this text'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --online 'Only online handlers'
            cand --offline 'Only offline bindings'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;get'= {
            cand --event 'Only events matching this glob or name (case-insensitive)'
            cand --handler 'Only handlers whose URL contains this text'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --online 'Only online handlers'
            cand --offline 'Only offline bindings'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;ls'= {
            cand --event 'Only events matching this glob or name (case-insensitive)'
            cand --handler 'Only handlers whose URL contains this text'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --online 'Only online handlers'
            cand --offline 'Only offline bindings'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;unbind'= {
            cand --auth-type 'Remove only the handler bound for this user id'
            cand --connector 'Offline queue connector key (auth_connector)'
            cand --event 'With --all: only events matching this glob'
            cand --handler 'With --all: only this handler URL'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --offline 'Remove the offline binding'
            cand --all 'Remove every binding that matches --event and --handler, after confirmation'
            cand --dry-run 'Show what would be removed without removing it'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand list 'List queued records without taking them (event.offline.list)'
            cand get 'Reserve records (event.offline.get with clear=0) and print them with the process id'
            cand clear 'Delete records of a reservation (event.offline.clear)'
            cand error 'Mark records of a reservation as failed and release them (event.offline.error)'
            cand consume 'Deliver queued events to a command, a URL or stdout, at least once'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;offline;list'= {
            cand --filter 'Filter as FIELD OP VALUE, OP one of = > < >= <= ~ (repeatable); fields ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID, PROCESS_ID, ERROR'
            cand --order 'Order as FIELD[:asc|desc]'
            cand --connector 'Queue of this connector (auth_connector)'
            cand --start 'Offset of the first record'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --errors 'Only records marked as errors'
            cand --all 'Follow every page, not just the first 50 records'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline;get'= {
            cand --limit 'How many records to reserve'
            cand --process-id 'Read this reservation again instead of reserving new records'
            cand --filter 'Filter as FIELD OP VALUE (repeatable); fields ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID'
            cand --order 'Order as FIELD[:asc|desc]'
            cand --connector 'Queue of this connector (auth_connector)'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --errors 'Take records marked as errors'
            cand --clear 'Destructive read: the portal deletes the records as it returns them'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline;clear'= {
            cand --process-id 'Reservation to clear'
            cand --message-id 'Clear only these records (32-character MESSAGE_ID; repeatable)'
            cand --id 'Clear only these records by ID (repeatable)'
            cand --connector 'Queue of this connector (auth_connector)'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline;error'= {
            cand --process-id 'Reservation the records belong to'
            cand --message-id 'Records to mark (32-character MESSAGE_ID; repeatable)'
            cand --connector 'Queue of this connector (auth_connector)'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline;consume'= {
            cand --exec 'Run this shell command per record: the record''s JSON on stdin, BX_EVENT_NAME, BX_EVENT_ID, BX_MESSAGE_ID, BX_PROCESS_ID in the environment; exit 0 = done'
            cand --forward-to 'POST each record as JSON to this URL; a 2xx answer = done'
            cand --limit 'Records reserved per request [default: 500, see docs/offline.md]'
            cand --poll-interval 'Seconds between polls of an empty queue with --follow (backs off up to 8x)'
            cand --max-events 'Stop after delivering this many records'
            cand --connector 'Queue of this connector (auth_connector)'
            cand --handler-timeout 'Seconds a handler (--exec or --forward-to) may take per record'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand --stdout 'Print each record as one JSON line on stdout'
            cand --follow 'Keep polling when the queue is empty'
            cand --errors 'Re-process records marked as errors'
            cand --allow-loss 'Use destructive reads (clear=1) on plans without reservations: records whose delivery fails are lost'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;offline;help'= {
            cand list 'List queued records without taking them (event.offline.list)'
            cand get 'Reserve records (event.offline.get with clear=0) and print them with the process id'
            cand clear 'Delete records of a reservation (event.offline.clear)'
            cand error 'Mark records of a reservation as failed and release them (event.offline.error)'
            cand consume 'Deliver queued events to a command, a URL or stdout, at least once'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;offline;help;list'= {
        }
        &'bx-events;offline;help;get'= {
        }
        &'bx-events;offline;help;clear'= {
        }
        &'bx-events;offline;help;error'= {
        }
        &'bx-events;offline;help;consume'= {
        }
        &'bx-events;offline;help;help'= {
        }
        &'bx-events;call'= {
            cand --data 'Parameters as a JSON object, or - to read it from stdin'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;sandbox'= {
            cand --host 'Address to listen on'
            cand --port 'Port to listen on (0 picks a free one)'
            cand --save-profile 'Save the sandbox''s OAuth credentials as this profile and make it current'
            cand --plan 'The portal''s plan (basic lacks extended offline handling and connectors)'
            cand --rate-limit 'The portal''s request limit: standard, enterprise, off or BURST/RATE'
            cand --token-ttl 'Lifetime of access tokens in seconds'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand fire 'Make a change on a running sandbox: queue records for offline bindings and report the online handlers of the event'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;sandbox;fire'= {
            cand --data 'Event data as KEY=VALUE with dotted paths (FIELDS.ID=7); {n} is the event''s number'
            cand --count 'Fire the event this many times'
            cand --url 'Sandbox address [default: the active profile''s portal]'
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;sandbox;help'= {
            cand fire 'Make a change on a running sandbox: queue records for offline bindings and report the online handlers of the event'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;sandbox;help;fire'= {
        }
        &'bx-events;sandbox;help;help'= {
        }
        &'bx-events;completions'= {
            cand -p 'Profile to use (default: the current one)'
            cand --profile 'Profile to use (default: the current one)'
            cand -o 'Output format'
            cand --output 'Output format'
            cand --config-dir 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]'
            cand --color 'When to use colour (NO_COLOR is honoured)'
            cand --timeout 'Timeout of each HTTP request, in seconds'
            cand -v 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand --verbose 'Show HTTP requests on stderr (secrets masked); twice for bodies'
            cand -q 'Print only data and errors'
            cand --quiet 'Print only data and errors'
            cand -y 'Answer yes to confirmations'
            cand --yes 'Answer yes to confirmations'
            cand --no-input 'Never prompt (implied when CI is set or stdin is not a terminal)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'bx-events;help'= {
            cand auth 'Log in to a portal and manage stored credentials'
            cand events 'List the events the application can bind'
            cand bind 'Bind a handler to an event (event.bind); binding twice is harmless'
            cand list 'List the registered handlers (event.get)'
            cand unbind 'Remove handlers (event.unbind)'
            cand offline 'Read, reserve, confirm and consume the offline event queue'
            cand call 'Call any REST method and print the raw JSON answer'
            cand sandbox 'Run a local Bitrix24 portal emulator for trying bx-events and testing handlers'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'bx-events;help;auth'= {
            cand login 'Store credentials for a portal after checking them with one call'
            cand status 'Show every profile, whether its credentials work, and where secrets live'
            cand logout 'Forget the credentials of the selected profile (or all with --all)'
            cand token 'Print a valid access token (refreshing it if needed), for scripts'
            cand switch 'Make a profile the current one'
        }
        &'bx-events;help;auth;login'= {
        }
        &'bx-events;help;auth;status'= {
        }
        &'bx-events;help;auth;logout'= {
        }
        &'bx-events;help;auth;token'= {
        }
        &'bx-events;help;auth;switch'= {
        }
        &'bx-events;help;events'= {
        }
        &'bx-events;help;bind'= {
        }
        &'bx-events;help;list'= {
        }
        &'bx-events;help;unbind'= {
        }
        &'bx-events;help;offline'= {
            cand list 'List queued records without taking them (event.offline.list)'
            cand get 'Reserve records (event.offline.get with clear=0) and print them with the process id'
            cand clear 'Delete records of a reservation (event.offline.clear)'
            cand error 'Mark records of a reservation as failed and release them (event.offline.error)'
            cand consume 'Deliver queued events to a command, a URL or stdout, at least once'
        }
        &'bx-events;help;offline;list'= {
        }
        &'bx-events;help;offline;get'= {
        }
        &'bx-events;help;offline;clear'= {
        }
        &'bx-events;help;offline;error'= {
        }
        &'bx-events;help;offline;consume'= {
        }
        &'bx-events;help;call'= {
        }
        &'bx-events;help;sandbox'= {
            cand fire 'Make a change on a running sandbox: queue records for offline bindings and report the online handlers of the event'
        }
        &'bx-events;help;sandbox;fire'= {
        }
        &'bx-events;help;completions'= {
        }
        &'bx-events;help;help'= {
        }
    ]
    $completions[$command]
}
