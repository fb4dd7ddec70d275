# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bx_events_global_optspecs
    string join \n p/profile= o/output= config-dir= v/verbose q/quiet color= y/yes no-input timeout= ca-cert= store= h/help V/version
end

function __fish_bx_events_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bx_events_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bx_events_using_subcommand
    set -l cmd (__fish_bx_events_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bx-events -n "__fish_bx_events_needs_command" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_needs_command" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_needs_command" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_needs_command" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_needs_command" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_needs_command" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_needs_command" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_needs_command" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_needs_command" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_needs_command" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_needs_command" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_needs_command" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "auth" -d 'Log in to a portal and manage stored credentials'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "events" -d 'List the events the application can bind'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "describe" -d 'Show what an event carries: scope, who may bind it, the request a handler receives, its fields and the method that fetches its object'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "bind" -d 'Bind a handler to an event (event.bind); binding twice is harmless'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "list" -d 'List the registered handlers (event.get)'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "get" -d 'List the registered handlers (event.get)'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "ls" -d 'List the registered handlers (event.get)'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "unbind" -d 'Remove handlers (event.unbind)'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "diff" -d 'Compare a subscriptions file with what the portal has bound'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "apply" -d 'Bind what a subscriptions file lists and the portal lacks (--prune: unbind the rest)'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "export" -d 'Print the portal\'s current bindings as a subscriptions file'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "offline" -d 'Read, reserve, confirm and consume the offline event queue'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "call" -d 'Call any REST method and print the raw JSON answer'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "dev" -d 'Deliver real portal events to a local handler, no public URL needed'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "doctor" -d 'Check why a handler gets nothing: credentials, installation, rights, handlers, events, the offline queue'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "listen" -d 'Receive events locally: decode, verify and print what a portal sends a handler'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "trigger" -d 'Send a portal-style event to a handler URL'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "sandbox" -d 'Run a local Bitrix24 portal emulator for trying bx-events and testing handlers'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "help" -d 'Help on a command, or on a topic: environment, exit-codes'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c bx-events -n "__fish_bx_events_needs_command" -f -a "store" -d 'Prepare the shared PostgreSQL store (--store) and copy profiles into it'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "login" -d 'Store credentials for a portal after checking them with one call'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "status" -d 'Show every profile, whether its credentials work, and where secrets live'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "logout" -d 'Forget the credentials of the selected profile (or all with --all)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "token" -d 'Print an access token the portal has just accepted (refreshing it if needed), for scripts; -o json adds its expiry'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "switch" -d 'Make a profile the current one'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "import" -d 'Store many portals\' tokens at once from JSON lines (the auth data of an application\'s installs); every line is checked before anything is written'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and not __fish_seen_subcommand_from login status logout token switch import keyring" -f -a "keyring" -d 'Move the selected profile\'s secrets (or all with --all) into the OS keyring, or back into credentials.toml with --off'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l portal -d 'Portal address, e.g. https://example.bitrix24.com' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l client-id -d 'OAuth application client id (from the application\'s page in the portal)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l client-secret -d 'OAuth application client secret' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l code -d 'Authorization code, when the browser redirect cannot reach this machine' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l access-token -d 'An existing access token' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l refresh-token -d 'The refresh token that goes with --access-token' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l webhook -d 'Incoming webhook URL: https://PORTAL/rest/USER_ID/SECRET/ (cannot manage events)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l oauth-server -d 'OAuth server [default: https://oauth.bitrix.info]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l redirect-port -d 'Local port that catches the authorization redirect (0 picks a free one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l rate-limit -d 'Client-side rate limit: standard, enterprise, off or BURST/RATE' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l secrets-from -d 'Read secrets from FILE (\'-\' for stdin) as NAME=VALUE lines (client_secret, access_token, refresh_token, webhook), so they stay out of the process list' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l keyring -d 'Keep this profile\'s secrets in the OS keyring (macOS Keychain, Windows Credential Manager, Secret Service) instead of credentials.toml'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from login" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l all -d 'Remove every profile'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from logout" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from token" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from switch" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l client-id -d 'The application\'s client id, for lines that do not name one' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l secrets-from -d 'Read the application\'s client secret from FILE as a client_secret=VALUE line (keeps it out of the process list), for lines that do not carry one' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l replace -d 'Replace profiles that already exist (otherwise an existing name is an error)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l all -d 'Every stored profile, not only the selected one'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l off -d 'Move the secrets out of the keyring, back into credentials.toml'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand auth; and __fish_seen_subcommand_from keyring" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l scope -d 'Only the events of this scope (e.g. crm, task)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l full -d 'Every event of the portal, not only those of the application\'s scopes'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l catalog -d 'Every event bx-events knows from the REST documentation, with its scope and what it fetches; asks no portal and needs no credentials'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand events" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand describe" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l auth-type -d 'Run the handler as this user id (0 = the user who triggered the event)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l connector -d 'Offline queue connector key (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l min-timeout -d 'For ONOFFLINEEVENT: notify at most once per this many seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l offline -d 'Queue the event for `event.offline.get` instead of calling a handler'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l dry-run -d 'Show what would be bound without binding'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand bind" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l event -d 'Only events matching this glob, or containing this text (case-insensitive), as `events PATTERN` matches' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l handler -d 'Only this handler URL, or those matching a glob (\'*\' spans \'/\'), e.g. \'*hooks.example.com*\'' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l online -d 'Only online handlers'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l offline -d 'Only offline bindings'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand list" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l event -d 'Only events matching this glob, or containing this text (case-insensitive), as `events PATTERN` matches' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l handler -d 'Only this handler URL, or those matching a glob (\'*\' spans \'/\'), e.g. \'*hooks.example.com*\'' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l online -d 'Only online handlers'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l offline -d 'Only offline bindings'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand get" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l event -d 'Only events matching this glob, or containing this text (case-insensitive), as `events PATTERN` matches' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l handler -d 'Only this handler URL, or those matching a glob (\'*\' spans \'/\'), e.g. \'*hooks.example.com*\'' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l online -d 'Only online handlers'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l offline -d 'Only offline bindings'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand ls" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l auth-type -d 'Remove only the handler bound for this user id' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l connector -d 'Offline queue connector key (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l event -d 'With --all: only events matching this glob' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l handler -d 'With --all: only this handler URL, or those matching a glob (\'*\' spans \'/\')' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l offline -d 'Remove the offline binding'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l all -d 'Remove every binding that matches --event and --handler, after confirmation'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l dry-run -d 'Show what would be removed without removing it'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand unbind" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s f -l file -d 'Subscriptions file, or - for stdin [default: bx-events.toml]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l profiles -d 'Work on these stored profiles (comma-separated) instead of the active one' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l profiles-from -d 'Work on the profiles named in FILE, one per line (\'#\' starts a comment)' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l concurrency -d 'Portals worked on at the same time' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l all-profiles -d 'Work on every stored profile (portals the application was uninstalled from are passed by)'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l prune -d 'Count bindings the file does not list as drift (they would be unbound)'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l exit-code -d 'Exit with 3 when the portal is not in sync with the file'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand diff" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s f -l file -d 'Subscriptions file, or - for stdin [default: bx-events.toml]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l profiles -d 'Work on these stored profiles (comma-separated) instead of the active one' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l profiles-from -d 'Work on the profiles named in FILE, one per line (\'#\' starts a comment)' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l concurrency -d 'Portals worked on at the same time' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l all-profiles -d 'Work on every stored profile (portals the application was uninstalled from are passed by)'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l prune -d 'Also unbind what the file does not list (asks first unless --yes)'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l dry-run -d 'Print the plan without changing anything'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand apply" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand export" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "list" -d 'List queued records without taking them (event.offline.list)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "get" -d 'Reserve records (event.offline.get with clear=0) and print them with the process id'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "clear" -d 'Delete records of a reservation (event.offline.clear)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "error" -d 'Mark records of a reservation as failed and release them (event.offline.error)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "consume" -d 'Deliver queued events to a command, a URL or stdout, at least once'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and not __fish_seen_subcommand_from list get clear error consume dead-letter" -f -a "dead-letter" -d 'Records that failed again under `consume --errors`, kept locally'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l filter -d 'Filter as FIELD OP VALUE, OP one of = > < >= <= ~ (repeatable); fields ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID, PROCESS_ID, ERROR' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l order -d 'Order as FIELD[:asc|desc]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l connector -d 'Queue of this connector (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l start -d 'Offset of the first record' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l errors -d 'Only records marked as errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l all -d 'Follow every page, not just the first 50 records'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l limit -d 'How many records to reserve' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l process-id -d 'Read this whole reservation again instead of reserving new records (with --clear: then confirm exactly the records shown)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l filter -d 'Filter as FIELD OP VALUE (repeatable); fields ID, EVENT_NAME, MESSAGE_ID (the portal refuses TIMESTAMP_X here: use `offline list` for that)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l order -d 'Order as FIELD[:asc|desc]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l connector -d 'Queue of this connector (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l errors -d 'Take records marked as errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l clear -d 'Destructive read: the portal deletes the records as it returns them'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from get" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l process-id -d 'Reservation to clear' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l message-id -d 'Clear only these records (32-character MESSAGE_ID; repeatable)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l id -d 'Clear only these records by ID (repeatable)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l connector -d 'Queue of this connector (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from clear" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l process-id -d 'Reservation the records belong to' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l message-id -d 'Records to mark (32-character MESSAGE_ID; repeatable)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l connector -d 'Queue of this connector (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from error" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l exec -d 'Run this shell command per record: the record\'s JSON on stdin, BX_EVENT_NAME, BX_EVENT_ID, BX_MESSAGE_ID, BX_PROCESS_ID in the environment; exit 0 = done' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l forward-to -d 'POST each record as JSON to this URL; a 2xx answer = done' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l publish -d 'Publish each reservation into a message system and confirm only what it acknowledged: amqp://USER:PASS@HOST:PORT/VHOST?exchange=NAME&routing_key=T, redis://HOST:PORT/DB?stream=T, nats://HOST:PORT?stream=NAME&subject=T or postgres://USER@HOST:PORT/DB?table=NAME (docs/publish.md)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l handler-timeout -d 'Seconds a handler (--exec or --forward-to) may take per record' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l profiles -d 'Work on these stored profiles (comma-separated) instead of the active one' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l profiles-from -d 'Work on the profiles named in FILE, one per line (\'#\' starts a comment)' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l concurrency -d 'Portals worked on at the same time' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l limit -d 'Records reserved per request [default: 500, see docs/offline.md]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l poll-interval -d 'Seconds between polls of an empty queue with --follow (backs off up to 8x) [default: 5; with --notify-listen 300, a safety net]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l notify-listen -d 'With --follow: drain as soon as the portal\'s ONOFFLINEEVENT notification arrives, received on this address (e.g. 0.0.0.0:8085); the consumer binds the handler and removes it when it stops (docs/offline.md)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l notify-url -d 'The URL the portal POSTs notifications to, when it reaches --notify-listen through a proxy or tunnel [default: http://HOST:PORT/]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l min-timeout -d 'With --notify-listen: the binding\'s minTimeout, the least seconds between two notifications [default: 1]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l max-events -d 'Stop after delivering this many records' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l parallel -d 'Deliver up to N records at once with --exec or --forward-to; records of one object (event entity and FIELDS.ID) stay in queue order, others do not (1 keeps the whole queue\'s order)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l connector -d 'Queue of this connector (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l process-id -d 'Adopt this reservation (left by `offline get`, a crashed run or another machine): deliver and confirm all of it, then stop' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l event -d 'Only these events (repeatable): each is reserved with an EVENT_NAME filter, so records of other events stay for other consumers' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l format -d 'What --forward-to POSTs: the record as JSON, or the portal\'s own online request (a form with event, data[...], ts and auth[...])' -r -f -a "json\t'The offline record as JSON (see docs/offline.md)'
portal\t'The form a portal POSTs to an online handler'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l application-token -d 'The application\'s auth[application_token]: sent with --format portal, and required of --notify-listen notifications [default: the profile\'s, when known]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l stdout -d 'Print each record as one JSON line on stdout'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l all-profiles -d 'Work on every stored profile (portals the application was uninstalled from are passed by)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l follow -d 'Keep polling when the queue is empty'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l errors -d 'Re-process records marked as errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l allow-loss -d 'Use destructive reads (clear=1) on plans without reservations: records whose delivery fails are lost'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l with-tokens -d 'With --format portal: also send the profile\'s access token (the installer\'s, not the triggering user\'s; never the refresh token)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l hydrate -d 'Fetch each record\'s object with the method the event catalogue names (50 to a batch request) and deliver it as `object` (or `object_error`)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from consume" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -f -a "list" -d 'Show the records kept in the dead-letter file'
complete -c bx-events -n "__fish_bx_events_using_subcommand offline; and __fish_seen_subcommand_from dead-letter" -f -a "replay" -d 'Deliver the kept records again; those delivered leave the file'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l data -d 'Parameters as a JSON object, or - to read it from stdin' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand call" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l forward-to -d 'The local handler each event is POSTed to' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l application-token -d 'auth[application_token] to send [default: the profile\'s, when known]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l connector -d 'Offline queue connector key (auth_connector)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l format -d 'POST the portal\'s online form (portal) or the offline record as JSON (json)' -r -f -a "json\t'The offline record as JSON (see docs/offline.md)'
portal\t'The form a portal POSTs to an online handler'"
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l poll-interval -d 'Seconds between polls of an empty queue (backs off up to 8x while idle)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l handler-timeout -d 'Seconds the handler may take per event' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l parallel -d 'Deliver up to N events at once; events of one object stay in order' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l with-tokens -d 'Also send the profile\'s access token (the installer\'s, not the triggering user\'s; never the refresh token)'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l keep -d 'Leave the offline bindings dev made in place when it stops'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l replay -d 'Deliver again the events whose delivery failed earlier (the queue keeps them as errors), then stop'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l hydrate -d 'Fetch each record\'s object with the method the event catalogue names and send it beside the record (`object[...]`, or `object_error`)'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand dev" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l handler -d 'Test this handler URL (default: every bound online handler)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l event -d 'Check this event: in scope, bound, queued records' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l application-token -d 'The application token handlers should check (also tests that a wrong one is refused) [default: the profile\'s, when known]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l host -d 'Address to listen on' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l port -d 'Port to listen on (0 picks a free one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l application-token -d 'Accept only requests whose auth[application_token] equals this (401 otherwise)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l forward-to -d 'Pass each accepted request on, body and content type unchanged' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l exec -d 'Run this shell command per accepted event, the decoded event as JSON on stdin' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l save -d 'Save each accepted request (secrets masked) in this directory, for `trigger --from-file`' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l save-budget -d 'With --save, stop saving once the saved files of this run reach this many MB' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l max-exec -d 'Most --exec commands running at once; further events wait their turn' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l handler-timeout -d 'Seconds an --exec command may take per request; then its process group is killed' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l header-timeout -d 'Seconds a client may take to send a request\'s headers, and may stay idle between requests, before its connection is closed' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l client-id -d 'With --capture-installs: the application\'s client id' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l secrets-from -d 'With --capture-installs: read the application\'s client secret from FILE as a client_secret=VALUE line [default: $BX_EVENTS_CLIENT_SECRET]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l oauth-server -d 'With --capture-installs: the OAuth server the application trusts' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l save-rejected -d 'With --save, also save requests rejected for a wrong application token'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l capture-installs -d 'Store a profile per portal from ONAPPINSTALL and ONAPPUPDATE (verified by exchanging the refresh token at --oauth-server), and mark it uninstalled on ONAPPUNINSTALL (verified by its stored application token)'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand listen" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l to -d 'Handler URL to send the event to' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l data -d 'Event data as KEY=VALUE with dotted paths (FIELDS.ID=7), repeatable' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l application-token -d 'auth[application_token] to send (what your handler checks)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l handler-id -d 'event_handler_id to send' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l domain -d 'auth[domain] to send' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l from-file -d 'Replay a request saved by `listen --save`' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l json -d 'Send JSON instead of the portal\'s form encoding'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand trigger" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l host -d 'Address to listen on' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l port -d 'Port to listen on (0 picks a free one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l save-profile -d 'Save the sandbox\'s OAuth credentials as this profile and make it current' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l plan -d 'The portal\'s plan (basic lacks extended offline handling and connectors)' -r -f -a "basic\t''
professional\t''
enterprise\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l rate-limit -d 'The portal\'s request limit: standard, enterprise, off or BURST/RATE' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l token-ttl -d 'Lifetime of access tokens in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l application-token -d 'Application token sent to handlers, for `listen --application-token` [default: random]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l fault -d 'Inject a fault from the start: KIND[:COUNT][@METHOD], e.g. query_limit:3@event.get (kinds: query_limit, operation_time_limit, server_error, bad_gateway, slow, drop, lose_answer, expired_token; METHOD oauth.token for the OAuth server\'s token endpoint)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l state -d 'Keep credentials, bindings and the offline queue in this file across restarts' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l portals -d 'Serve this many independent portals, each on its own port, with one application installed on all (with --save-profile NAME: NAME-1 ... NAME-N)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l scopes -d 'The application\'s scopes, comma-separated, or `all` for every scope of the event catalogue [default: crm,task,user]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l external-delivery -d 'Also call handlers that are not on this machine (by default only loopback handlers are called, so the sandbox never reaches the internet)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l not-installed -d 'Report the application\'s installation as unfinished (app.info INSTALLED false), as a portal does before the app calls installFinish'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -f -a "fire" -d 'Make a change on a running sandbox: queue records for offline bindings and call the online handlers of the event'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -f -a "log" -d 'Show the sandbox\'s latest deliveries to online handlers'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -f -a "fault" -d 'Make a running sandbox misbehave for the next requests'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and not __fish_seen_subcommand_from fire log fault install" -f -a "install" -d 'Install (or update, or uninstall) the application on the sandbox\'s portals: each portal sends its lifecycle event, with fresh tokens, to a handler'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l data -d 'Event data as KEY=VALUE with dotted paths (FIELDS.ID=7); {N} in a value becomes the event\'s number (1, 2, ... with --count)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l count -d 'Fire the event this many times' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l url -d 'Sandbox address [default: the active profile\'s portal]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l portal -d 'On this portal of a `sandbox --portals N` (1 to N) [default: the one at --url]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fire" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l url -d 'Sandbox address [default: the active profile\'s portal]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from log" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l count -d 'How many requests it applies to' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l method -d 'Only requests of this method (e.g. event.get)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l delay-ms -d 'Delay for `slow` (default 2000), or how long `lose_answer` holds the answer it then loses (default 0), in milliseconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l url -d 'Sandbox address [default: the active profile\'s portal]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l clear -d 'Remove every injected fault instead'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from fault" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l to -d 'The application\'s install handler, e.g. a `listen --capture-installs`' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l event -d 'Which lifecycle event happens' -r -f -a "install\t'`ONAPPINSTALL`: the application was installed; carries fresh tokens'
update\t'`ONAPPUPDATE`: a new version was installed, and the application\'s handlers removed; carries fresh tokens'
uninstall\t'`ONAPPUNINSTALL`: the application was removed with its handlers, queue and tokens; carries no tokens, only the application token'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l portal -d 'Only on this portal (1 to N) [default: every portal of the sandbox]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l url -d 'Sandbox address (any of its portals) [default: the active profile\'s portal]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand sandbox; and __fish_seen_subcommand_from install" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand help" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand completions" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and not __fish_seen_subcommand_from init" -f -a "init" -d 'Create or upgrade the store\'s tables (every command also does it on first use), and optionally copy this machine\'s profiles into it'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s p -l profile -d 'Profile to use (default: the current one)' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s o -l output -d 'Output format' -r -f -a "table\t'Human-readable table'
json\t'One JSON document'
ndjson\t'One JSON object per line'"
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l config-dir -d 'Directory of config.toml and credentials.toml [env: BX_EVENTS_CONFIG_DIR] [default: ~/.config/bx-events on Linux, ~/Library/Application Support/bx-events on macOS, %APPDATA%\\bx-events\\config on Windows]' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l color -d 'When to use colour (NO_COLOR is honoured)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l timeout -d 'Timeout of each HTTP request, in seconds' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l ca-cert -d 'Also trust this CA certificate (PEM), e.g. an on-premise portal\'s own CA' -r -F
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l store -d 'Keep profiles, secrets, rate-limit buckets and consume journals in this PostgreSQL database, shared by every machine of a fleet (postgres://USER@HOST:PORT/DB) [default: the config directory\'s files]' -r
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l copy-profiles -d 'Copy the profiles of the config directory\'s files (--config-dir) into the store; profiles the store already has are left as they are'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s v -l verbose -d 'Show HTTP requests on stderr (secrets masked); twice for bodies'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s q -l quiet -d 'Print only data and errors'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s y -l yes -d 'Answer yes to confirmations'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -l no-input -d 'Never prompt (implied when CI is set or stdin is not a terminal)'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c bx-events -n "__fish_bx_events_using_subcommand store; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
