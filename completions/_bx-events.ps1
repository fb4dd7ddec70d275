
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'bx-events' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'bx-events'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'bx-events' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Log in to a portal and manage stored credentials')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'List the events the application can bind')
            [CompletionResult]::new('bind', 'bind', [CompletionResultType]::ParameterValue, 'Bind a handler to an event (event.bind); binding twice is harmless')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the registered handlers (event.get)')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'List the registered handlers (event.get)')
            [CompletionResult]::new('ls', 'ls', [CompletionResultType]::ParameterValue, 'List the registered handlers (event.get)')
            [CompletionResult]::new('unbind', 'unbind', [CompletionResultType]::ParameterValue, 'Remove handlers (event.unbind)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare a subscriptions file with what the portal has bound')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Bind what a subscriptions file lists and the portal lacks (--prune: unbind the rest)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the portal''s current bindings as a subscriptions file')
            [CompletionResult]::new('offline', 'offline', [CompletionResultType]::ParameterValue, 'Read, reserve, confirm and consume the offline event queue')
            [CompletionResult]::new('call', 'call', [CompletionResultType]::ParameterValue, 'Call any REST method and print the raw JSON answer')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Receive events locally: decode, verify and print what a portal sends a handler')
            [CompletionResult]::new('trigger', 'trigger', [CompletionResultType]::ParameterValue, 'Send a portal-style event to a handler URL')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run a local Bitrix24 portal emulator for trying bx-events and testing handlers')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;auth' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Store credentials for a portal after checking them with one call')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every profile, whether its credentials work, and where secrets live')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the credentials of the selected profile (or all with --all)')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Print a valid access token (refreshing it if needed), for scripts')
            [CompletionResult]::new('switch', 'switch', [CompletionResultType]::ParameterValue, 'Make a profile the current one')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;auth;login' {
            [CompletionResult]::new('--portal', '--portal', [CompletionResultType]::ParameterName, 'Portal address, e.g. https://example.bitrix24.com')
            [CompletionResult]::new('--client-id', '--client-id', [CompletionResultType]::ParameterName, 'OAuth application client id (from the application''s page in the portal)')
            [CompletionResult]::new('--client-secret', '--client-secret', [CompletionResultType]::ParameterName, 'OAuth application client secret')
            [CompletionResult]::new('--code', '--code', [CompletionResultType]::ParameterName, 'Authorization code, when the browser redirect cannot reach this machine')
            [CompletionResult]::new('--access-token', '--access-token', [CompletionResultType]::ParameterName, 'An existing access token')
            [CompletionResult]::new('--refresh-token', '--refresh-token', [CompletionResultType]::ParameterName, 'The refresh token that goes with --access-token')
            [CompletionResult]::new('--webhook', '--webhook', [CompletionResultType]::ParameterName, 'Incoming webhook URL: https://PORTAL/rest/USER_ID/SECRET/ (cannot manage events)')
            [CompletionResult]::new('--oauth-server', '--oauth-server', [CompletionResultType]::ParameterName, 'OAuth server [default: https://oauth.bitrix.info]')
            [CompletionResult]::new('--redirect-port', '--redirect-port', [CompletionResultType]::ParameterName, 'Local port that catches the authorization redirect')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Client-side rate limit: standard, enterprise, off or BURST/RATE')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;auth;status' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;auth;logout' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Remove every profile')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;auth;token' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;auth;switch' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;auth;help' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Store credentials for a portal after checking them with one call')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every profile, whether its credentials work, and where secrets live')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the credentials of the selected profile (or all with --all)')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Print a valid access token (refreshing it if needed), for scripts')
            [CompletionResult]::new('switch', 'switch', [CompletionResultType]::ParameterValue, 'Make a profile the current one')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;auth;help;login' {
            break
        }
        'bx-events;auth;help;status' {
            break
        }
        'bx-events;auth;help;logout' {
            break
        }
        'bx-events;auth;help;token' {
            break
        }
        'bx-events;auth;help;switch' {
            break
        }
        'bx-events;auth;help;help' {
            break
        }
        'bx-events;events' {
            [CompletionResult]::new('--scope', '--scope', [CompletionResultType]::ParameterName, 'Only the events of this scope (e.g. crm, task)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--full', '--full', [CompletionResultType]::ParameterName, 'Every event of the portal, not only those of the application''s scopes')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;bind' {
            [CompletionResult]::new('--auth-type', '--auth-type', [CompletionResultType]::ParameterName, 'Run the handler as this user id (0 = the user who triggered the event)')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Offline queue connector key (auth_connector)')
            [CompletionResult]::new('--min-timeout', '--min-timeout', [CompletionResultType]::ParameterName, 'For ONOFFLINEEVENT: notify at most once per this many seconds')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Queue the event for `event.offline.get` instead of calling a handler')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be bound without binding')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;list' {
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'Only events matching this glob or name (case-insensitive)')
            [CompletionResult]::new('--handler', '--handler', [CompletionResultType]::ParameterName, 'Only handlers whose URL contains this text')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--online', '--online', [CompletionResultType]::ParameterName, 'Only online handlers')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Only offline bindings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;get' {
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'Only events matching this glob or name (case-insensitive)')
            [CompletionResult]::new('--handler', '--handler', [CompletionResultType]::ParameterName, 'Only handlers whose URL contains this text')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--online', '--online', [CompletionResultType]::ParameterName, 'Only online handlers')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Only offline bindings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;ls' {
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'Only events matching this glob or name (case-insensitive)')
            [CompletionResult]::new('--handler', '--handler', [CompletionResultType]::ParameterName, 'Only handlers whose URL contains this text')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--online', '--online', [CompletionResultType]::ParameterName, 'Only online handlers')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Only offline bindings')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;unbind' {
            [CompletionResult]::new('--auth-type', '--auth-type', [CompletionResultType]::ParameterName, 'Remove only the handler bound for this user id')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Offline queue connector key (auth_connector)')
            [CompletionResult]::new('--event', '--event', [CompletionResultType]::ParameterName, 'With --all: only events matching this glob')
            [CompletionResult]::new('--handler', '--handler', [CompletionResultType]::ParameterName, 'With --all: only this handler URL')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--offline', '--offline', [CompletionResultType]::ParameterName, 'Remove the offline binding')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Remove every binding that matches --event and --handler, after confirmation')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Show what would be removed without removing it')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;diff' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Subscriptions file, or - for stdin')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Subscriptions file, or - for stdin')
            [CompletionResult]::new('--profiles', '--profiles', [CompletionResultType]::ParameterName, 'Work on these stored profiles (comma-separated) instead of the active one')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Portals worked on at the same time')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--all-profiles', '--all-profiles', [CompletionResultType]::ParameterName, 'Work on every stored profile')
            [CompletionResult]::new('--prune', '--prune', [CompletionResultType]::ParameterName, 'Count bindings the file does not list as drift (they would be unbound)')
            [CompletionResult]::new('--exit-code', '--exit-code', [CompletionResultType]::ParameterName, 'Exit with 3 when the portal is not in sync with the file')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;apply' {
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Subscriptions file, or - for stdin')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Subscriptions file, or - for stdin')
            [CompletionResult]::new('--profiles', '--profiles', [CompletionResultType]::ParameterName, 'Work on these stored profiles (comma-separated) instead of the active one')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Portals worked on at the same time')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--all-profiles', '--all-profiles', [CompletionResultType]::ParameterName, 'Work on every stored profile')
            [CompletionResult]::new('--prune', '--prune', [CompletionResultType]::ParameterName, 'Also unbind what the file does not list (asks first unless --yes)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Print the plan without changing anything')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;export' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List queued records without taking them (event.offline.list)')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Reserve records (event.offline.get with clear=0) and print them with the process id')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete records of a reservation (event.offline.clear)')
            [CompletionResult]::new('error', 'error', [CompletionResultType]::ParameterValue, 'Mark records of a reservation as failed and release them (event.offline.error)')
            [CompletionResult]::new('consume', 'consume', [CompletionResultType]::ParameterValue, 'Deliver queued events to a command, a URL or stdout, at least once')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;offline;list' {
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Filter as FIELD OP VALUE, OP one of = > < >= <= ~ (repeatable); fields ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID, PROCESS_ID, ERROR')
            [CompletionResult]::new('--order', '--order', [CompletionResultType]::ParameterName, 'Order as FIELD[:asc|desc]')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Queue of this connector (auth_connector)')
            [CompletionResult]::new('--start', '--start', [CompletionResultType]::ParameterName, 'Offset of the first record')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--errors', '--errors', [CompletionResultType]::ParameterName, 'Only records marked as errors')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'Follow every page, not just the first 50 records')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline;get' {
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'How many records to reserve')
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Read this reservation again instead of reserving new records')
            [CompletionResult]::new('--filter', '--filter', [CompletionResultType]::ParameterName, 'Filter as FIELD OP VALUE (repeatable); fields ID, TIMESTAMP_X, EVENT_NAME, MESSAGE_ID')
            [CompletionResult]::new('--order', '--order', [CompletionResultType]::ParameterName, 'Order as FIELD[:asc|desc]')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Queue of this connector (auth_connector)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--errors', '--errors', [CompletionResultType]::ParameterName, 'Take records marked as errors')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Destructive read: the portal deletes the records as it returns them')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline;clear' {
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Reservation to clear')
            [CompletionResult]::new('--message-id', '--message-id', [CompletionResultType]::ParameterName, 'Clear only these records (32-character MESSAGE_ID; repeatable)')
            [CompletionResult]::new('--id', '--id', [CompletionResultType]::ParameterName, 'Clear only these records by ID (repeatable)')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Queue of this connector (auth_connector)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline;error' {
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Reservation the records belong to')
            [CompletionResult]::new('--message-id', '--message-id', [CompletionResultType]::ParameterName, 'Records to mark (32-character MESSAGE_ID; repeatable)')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Queue of this connector (auth_connector)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline;consume' {
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run this shell command per record: the record''s JSON on stdin, BX_EVENT_NAME, BX_EVENT_ID, BX_MESSAGE_ID, BX_PROCESS_ID in the environment; exit 0 = done')
            [CompletionResult]::new('--forward-to', '--forward-to', [CompletionResultType]::ParameterName, 'POST each record as JSON to this URL; a 2xx answer = done')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Records reserved per request [default: 500, see docs/offline.md]')
            [CompletionResult]::new('--poll-interval', '--poll-interval', [CompletionResultType]::ParameterName, 'Seconds between polls of an empty queue with --follow (backs off up to 8x)')
            [CompletionResult]::new('--max-events', '--max-events', [CompletionResultType]::ParameterName, 'Stop after delivering this many records')
            [CompletionResult]::new('--connector', '--connector', [CompletionResultType]::ParameterName, 'Queue of this connector (auth_connector)')
            [CompletionResult]::new('--handler-timeout', '--handler-timeout', [CompletionResultType]::ParameterName, 'Seconds a handler (--exec or --forward-to) may take per record')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--stdout', '--stdout', [CompletionResultType]::ParameterName, 'Print each record as one JSON line on stdout')
            [CompletionResult]::new('--follow', '--follow', [CompletionResultType]::ParameterName, 'Keep polling when the queue is empty')
            [CompletionResult]::new('--errors', '--errors', [CompletionResultType]::ParameterName, 'Re-process records marked as errors')
            [CompletionResult]::new('--allow-loss', '--allow-loss', [CompletionResultType]::ParameterName, 'Use destructive reads (clear=1) on plans without reservations: records whose delivery fails are lost')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;offline;help' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List queued records without taking them (event.offline.list)')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Reserve records (event.offline.get with clear=0) and print them with the process id')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete records of a reservation (event.offline.clear)')
            [CompletionResult]::new('error', 'error', [CompletionResultType]::ParameterValue, 'Mark records of a reservation as failed and release them (event.offline.error)')
            [CompletionResult]::new('consume', 'consume', [CompletionResultType]::ParameterValue, 'Deliver queued events to a command, a URL or stdout, at least once')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;offline;help;list' {
            break
        }
        'bx-events;offline;help;get' {
            break
        }
        'bx-events;offline;help;clear' {
            break
        }
        'bx-events;offline;help;error' {
            break
        }
        'bx-events;offline;help;consume' {
            break
        }
        'bx-events;offline;help;help' {
            break
        }
        'bx-events;call' {
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Parameters as a JSON object, or - to read it from stdin')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;listen' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Address to listen on')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0 picks a free one)')
            [CompletionResult]::new('--application-token', '--application-token', [CompletionResultType]::ParameterName, 'Accept only requests whose auth[application_token] equals this (401 otherwise)')
            [CompletionResult]::new('--forward-to', '--forward-to', [CompletionResultType]::ParameterName, 'Pass each accepted request on, body and content type unchanged')
            [CompletionResult]::new('--exec', '--exec', [CompletionResultType]::ParameterName, 'Run this shell command per accepted event, the decoded event as JSON on stdin')
            [CompletionResult]::new('--save', '--save', [CompletionResultType]::ParameterName, 'Save each request (secrets masked) in this directory, for `trigger --from-file`')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;trigger' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Handler URL to send the event to')
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Event data as KEY=VALUE with dotted paths (FIELDS.ID=7), repeatable')
            [CompletionResult]::new('--application-token', '--application-token', [CompletionResultType]::ParameterName, 'auth[application_token] to send (what your handler checks)')
            [CompletionResult]::new('--handler-id', '--handler-id', [CompletionResultType]::ParameterName, 'event_handler_id to send')
            [CompletionResult]::new('--domain', '--domain', [CompletionResultType]::ParameterName, 'auth[domain] to send')
            [CompletionResult]::new('--from-file', '--from-file', [CompletionResultType]::ParameterName, 'Replay a request saved by `listen --save`')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Send JSON instead of the portal''s form encoding')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;sandbox' {
            [CompletionResult]::new('--host', '--host', [CompletionResultType]::ParameterName, 'Address to listen on')
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port to listen on (0 picks a free one)')
            [CompletionResult]::new('--save-profile', '--save-profile', [CompletionResultType]::ParameterName, 'Save the sandbox''s OAuth credentials as this profile and make it current')
            [CompletionResult]::new('--plan', '--plan', [CompletionResultType]::ParameterName, 'The portal''s plan (basic lacks extended offline handling and connectors)')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'The portal''s request limit: standard, enterprise, off or BURST/RATE')
            [CompletionResult]::new('--token-ttl', '--token-ttl', [CompletionResultType]::ParameterName, 'Lifetime of access tokens in seconds')
            [CompletionResult]::new('--application-token', '--application-token', [CompletionResultType]::ParameterName, 'Application token sent to handlers, for `listen --application-token` [default: random]')
            [CompletionResult]::new('--fault', '--fault', [CompletionResultType]::ParameterName, 'Inject a fault from the start: KIND[:COUNT][@METHOD], e.g. query_limit:3@event.get (kinds: query_limit, operation_time_limit, server_error, bad_gateway, slow, drop, expired_token)')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--external-delivery', '--external-delivery', [CompletionResultType]::ParameterName, 'Also call handlers that are not on this machine (by default only loopback handlers are called, so the sandbox never reaches the internet)')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('fire', 'fire', [CompletionResultType]::ParameterValue, 'Make a change on a running sandbox: queue records for offline bindings and call the online handlers of the event')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the sandbox''s latest deliveries to online handlers')
            [CompletionResult]::new('fault', 'fault', [CompletionResultType]::ParameterValue, 'Make a running sandbox misbehave for the next requests')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;sandbox;fire' {
            [CompletionResult]::new('--data', '--data', [CompletionResultType]::ParameterName, 'Event data as KEY=VALUE with dotted paths (FIELDS.ID=7); {n} is the event''s number')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'Fire the event this many times')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Sandbox address [default: the active profile''s portal]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;sandbox;log' {
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Sandbox address [default: the active profile''s portal]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;sandbox;fault' {
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'How many requests it applies to')
            [CompletionResult]::new('--method', '--method', [CompletionResultType]::ParameterName, 'Only requests of this method (e.g. event.get)')
            [CompletionResult]::new('--delay-ms', '--delay-ms', [CompletionResultType]::ParameterName, 'Delay for `slow`, and how far ahead `operation_time_limit` resets, in milliseconds')
            [CompletionResult]::new('--url', '--url', [CompletionResultType]::ParameterName, 'Sandbox address [default: the active profile''s portal]')
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('--clear', '--clear', [CompletionResultType]::ParameterName, 'Remove every injected fault instead')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;sandbox;help' {
            [CompletionResult]::new('fire', 'fire', [CompletionResultType]::ParameterValue, 'Make a change on a running sandbox: queue records for offline bindings and call the online handlers of the event')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the sandbox''s latest deliveries to online handlers')
            [CompletionResult]::new('fault', 'fault', [CompletionResultType]::ParameterValue, 'Make a running sandbox misbehave for the next requests')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;sandbox;help;fire' {
            break
        }
        'bx-events;sandbox;help;log' {
            break
        }
        'bx-events;sandbox;help;fault' {
            break
        }
        'bx-events;sandbox;help;help' {
            break
        }
        'bx-events;completions' {
            [CompletionResult]::new('-p', '-p', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('--profile', '--profile', [CompletionResultType]::ParameterName, 'Profile to use (default: the current one)')
            [CompletionResult]::new('-o', '-o', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--config-dir', '--config-dir', [CompletionResultType]::ParameterName, 'Directory of config.toml and credentials.toml [default: ~/.config/bx-events]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured)')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Timeout of each HTTP request, in seconds')
            [CompletionResult]::new('--ca-cert', '--ca-cert', [CompletionResultType]::ParameterName, 'Also trust this CA certificate (PEM), e.g. an on-premise portal''s own CA')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Show HTTP requests on stderr (secrets masked); twice for bodies')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only data and errors')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Answer yes to confirmations')
            [CompletionResult]::new('--no-input', '--no-input', [CompletionResultType]::ParameterName, 'Never prompt (implied when CI is set or stdin is not a terminal)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'bx-events;help' {
            [CompletionResult]::new('auth', 'auth', [CompletionResultType]::ParameterValue, 'Log in to a portal and manage stored credentials')
            [CompletionResult]::new('events', 'events', [CompletionResultType]::ParameterValue, 'List the events the application can bind')
            [CompletionResult]::new('bind', 'bind', [CompletionResultType]::ParameterValue, 'Bind a handler to an event (event.bind); binding twice is harmless')
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List the registered handlers (event.get)')
            [CompletionResult]::new('unbind', 'unbind', [CompletionResultType]::ParameterValue, 'Remove handlers (event.unbind)')
            [CompletionResult]::new('diff', 'diff', [CompletionResultType]::ParameterValue, 'Compare a subscriptions file with what the portal has bound')
            [CompletionResult]::new('apply', 'apply', [CompletionResultType]::ParameterValue, 'Bind what a subscriptions file lists and the portal lacks (--prune: unbind the rest)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print the portal''s current bindings as a subscriptions file')
            [CompletionResult]::new('offline', 'offline', [CompletionResultType]::ParameterValue, 'Read, reserve, confirm and consume the offline event queue')
            [CompletionResult]::new('call', 'call', [CompletionResultType]::ParameterValue, 'Call any REST method and print the raw JSON answer')
            [CompletionResult]::new('listen', 'listen', [CompletionResultType]::ParameterValue, 'Receive events locally: decode, verify and print what a portal sends a handler')
            [CompletionResult]::new('trigger', 'trigger', [CompletionResultType]::ParameterValue, 'Send a portal-style event to a handler URL')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run a local Bitrix24 portal emulator for trying bx-events and testing handlers')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'bx-events;help;auth' {
            [CompletionResult]::new('login', 'login', [CompletionResultType]::ParameterValue, 'Store credentials for a portal after checking them with one call')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show every profile, whether its credentials work, and where secrets live')
            [CompletionResult]::new('logout', 'logout', [CompletionResultType]::ParameterValue, 'Forget the credentials of the selected profile (or all with --all)')
            [CompletionResult]::new('token', 'token', [CompletionResultType]::ParameterValue, 'Print a valid access token (refreshing it if needed), for scripts')
            [CompletionResult]::new('switch', 'switch', [CompletionResultType]::ParameterValue, 'Make a profile the current one')
            break
        }
        'bx-events;help;auth;login' {
            break
        }
        'bx-events;help;auth;status' {
            break
        }
        'bx-events;help;auth;logout' {
            break
        }
        'bx-events;help;auth;token' {
            break
        }
        'bx-events;help;auth;switch' {
            break
        }
        'bx-events;help;events' {
            break
        }
        'bx-events;help;bind' {
            break
        }
        'bx-events;help;list' {
            break
        }
        'bx-events;help;unbind' {
            break
        }
        'bx-events;help;diff' {
            break
        }
        'bx-events;help;apply' {
            break
        }
        'bx-events;help;export' {
            break
        }
        'bx-events;help;offline' {
            [CompletionResult]::new('list', 'list', [CompletionResultType]::ParameterValue, 'List queued records without taking them (event.offline.list)')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Reserve records (event.offline.get with clear=0) and print them with the process id')
            [CompletionResult]::new('clear', 'clear', [CompletionResultType]::ParameterValue, 'Delete records of a reservation (event.offline.clear)')
            [CompletionResult]::new('error', 'error', [CompletionResultType]::ParameterValue, 'Mark records of a reservation as failed and release them (event.offline.error)')
            [CompletionResult]::new('consume', 'consume', [CompletionResultType]::ParameterValue, 'Deliver queued events to a command, a URL or stdout, at least once')
            break
        }
        'bx-events;help;offline;list' {
            break
        }
        'bx-events;help;offline;get' {
            break
        }
        'bx-events;help;offline;clear' {
            break
        }
        'bx-events;help;offline;error' {
            break
        }
        'bx-events;help;offline;consume' {
            break
        }
        'bx-events;help;call' {
            break
        }
        'bx-events;help;listen' {
            break
        }
        'bx-events;help;trigger' {
            break
        }
        'bx-events;help;sandbox' {
            [CompletionResult]::new('fire', 'fire', [CompletionResultType]::ParameterValue, 'Make a change on a running sandbox: queue records for offline bindings and call the online handlers of the event')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'Show the sandbox''s latest deliveries to online handlers')
            [CompletionResult]::new('fault', 'fault', [CompletionResultType]::ParameterValue, 'Make a running sandbox misbehave for the next requests')
            break
        }
        'bx-events;help;sandbox;fire' {
            break
        }
        'bx-events;help;sandbox;log' {
            break
        }
        'bx-events;help;sandbox;fault' {
            break
        }
        'bx-events;help;completions' {
            break
        }
        'bx-events;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
