<#
.SYNOPSIS
    Exchange Connector's PowerShell bridge: relays cmdlet calls from the connector service to an
    Exchange management session, as JSON lines on stdin/stdout.

.DESCRIPTION
    The protocol is documented in src/bridge_protocol.rs. In short:

      stdin  (one JSON object per line)            stdout (one JSON object per line)
      {"op":"open", connectionUri, authentication,  {"op":"opened", runspaceId, server, psVersion}
       userName, password, proxy, openTimeout...}   or {"op":"openFailed", error, kind} and exit 2
      {"op":"invoke", id, cmdlet, parameters}       {"op":"record", id, record} ... (streamed)
                                                    {"op":"error", id, error} ...
                                                    {"op":"end", id, ok, count, sessionBroken}
      {"op":"close"} or end of stdin                Remove-PSSession, exit 0

    Credentials arrive only in the open line on stdin: never on the command line or in the
    environment. Nothing but protocol lines is written to stdout; diagnostics go to stderr and never
    contain a secret.

    Exchange's remote sessions run in restricted language mode: no script blocks can be sent to the
    server. The bridge therefore uses implicit remoting (Import-PSSession with the cmdlets the
    connector needs) and runs every request as a plain call of a local proxy function with a
    parameter dictionary: & $cmdlet @parameters. No script text is ever built from request data.

    Runs on Windows PowerShell 5.1 and PowerShell 7 (no 7-only syntax: no ternaries, no ?? or ?.,
    no ConvertFrom-Json -AsHashtable).

    Proxy: WS-Management takes the proxy from the machine's WinHTTP settings, not from a URL given to
    New-PSSessionOption. When the open line carries a proxy the session uses
    -ProxyAccessType WinHttpConfig (configure it with 'netsh winhttp set proxy <host:port>') and, when
    given, the proxy credential. The proxy URL itself is only logged (to stderr). (ProxyAccessType has
    no 'ProxyServer' value: IEConfig, WinHttpConfig, AutoDetect, NoProxyServer; WinHttpConfig is the
    one meant for services.) WS-Management uses a proxy for HTTPS connection URIs only.

.NOTES
    Started by the connector as:
      powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File exchange-bridge.ps1   (Windows)
      pwsh -NoProfile -NonInteractive -File exchange-bridge.ps1                                     (elsewhere)
#>

Set-StrictMode -Version 2.0
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
$WarningPreference = 'SilentlyContinue'

# UTF-8 without a byte-order mark in both directions (Windows PowerShell defaults to the OEM code page).
$utf8 = New-Object System.Text.UTF8Encoding $false
[Console]::InputEncoding = $utf8
[Console]::OutputEncoding = $utf8

# The cmdlets the connector calls (and the optional ones the permission check reports on).
$script:ImportedCommands = @(
    'Get-ActiveSyncOrganizationSettings', 'Set-ActiveSyncOrganizationSettings',
    'Get-CASMailbox', 'Set-CASMailbox',
    'Get-ActiveSyncDeviceAccessRule', 'Set-ActiveSyncDeviceAccessRule',
    'New-ActiveSyncDeviceAccessRule', 'Remove-ActiveSyncDeviceAccessRule',
    'Get-MobileDevice', 'Get-ActiveSyncDevice',
    'Get-MobileDeviceStatistics', 'Get-ActiveSyncDeviceStatistics',
    'Get-ExchangeServer', 'Get-ActiveSyncDeviceClass', 'Get-Recipient', 'Set-ADServerSettings',
    'Clear-ActiveSyncDevice', 'Remove-ActiveSyncDevice',
    'Get-ActiveSyncMailboxPolicy', 'Set-ActiveSyncMailboxPolicy',
    'New-ActiveSyncMailboxPolicy', 'Remove-ActiveSyncMailboxPolicy'
)

function Write-Line([object]$Message) {
    $json = ConvertTo-Json -InputObject $Message -Compress -Depth 5
    [Console]::Out.WriteLine($json)
    [Console]::Out.Flush()
}

function Write-Diag([string]$Text) {
    [Console]::Error.WriteLine("exchange-bridge: $Text")
}

# A JSON value from ConvertFrom-Json -> a PowerShell parameter value. Objects become hashtables
# (multi-valued edits: @{Add=...; Remove=...}); '@odata.*' annotations are dropped; an empty list
# inside a hashtable is dropped (@{Add='x'} rather than @{Add='x'; Remove=@()}).
function ConvertTo-ParameterValue([object]$Value) {
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.Management.Automation.PSCustomObject]) {
        $table = @{}
        foreach ($p in $Value.PSObject.Properties) {
            if ($p.Name -like '@odata.*') { continue }
            $converted = ConvertTo-ParameterValue $p.Value
            if (($converted -is [array]) -and ($converted.Count -eq 0)) { continue }
            $table[$p.Name] = $converted
        }
        return $table
    }
    if ($Value -is [array]) {
        $items = @(foreach ($item in $Value) { ConvertTo-ParameterValue $item })
        return , $items
    }
    return $Value
}

function ConvertTo-Parameters([object]$Object) {
    $parameters = @{}
    if ($null -eq $Object) { return $parameters }
    foreach ($p in $Object.PSObject.Properties) {
        $parameters[$p.Name] = ConvertTo-ParameterValue $p.Value
    }
    return $parameters
}

# An output value -> JSON-friendly: dates as ISO-8601 UTC, enums by name, collections as arrays,
# Exchange objects (ADObjectId, sizes, ...) by their string form, as Exchange displays them.
function ConvertTo-OutputValue([object]$Value) {
    if ($null -eq $Value) { return $null }
    if ($Value -is [string] -or $Value -is [bool] -or $Value -is [char]) { return $Value }
    if ($Value -is [datetime]) { return $Value.ToUniversalTime().ToString('o') }
    if ($Value -is [enum]) { return $Value.ToString() }
    if ($Value -is [int] -or $Value -is [long] -or $Value -is [double] -or $Value -is [decimal] -or
        $Value -is [uint32] -or $Value -is [uint64] -or $Value -is [int16] -or $Value -is [byte]) { return $Value }
    if ($Value -is [guid]) { return $Value.ToString() }
    if ($Value -is [System.Collections.IDictionary]) {
        $table = [ordered]@{}
        foreach ($key in $Value.Keys) { $table["$key"] = ConvertTo-OutputValue $Value[$key] }
        return $table
    }
    if ($Value -is [System.Collections.IEnumerable]) {
        $items = @(foreach ($item in $Value) { ConvertTo-OutputValue $item })
        return , $items
    }
    return $Value.ToString()
}

function ConvertTo-OutputRecord([object]$Object) {
    if ($Object -is [System.Management.Automation.CommandInfo]) {
        return [ordered]@{ Name = $Object.Name; CommandType = $Object.CommandType.ToString() }
    }
    $record = [ordered]@{}
    foreach ($p in $Object.PSObject.Properties) {
        if ($p.MemberType -notlike '*Property') { continue }
        # PowerShell's own bookkeeping of implicit remoting, not Exchange data.
        if ($p.Name -eq 'PSComputerName' -or $p.Name -eq 'PSShowComputerName') { continue }
        try { $record[$p.Name] = ConvertTo-OutputValue $p.Value }
        catch { $record[$p.Name] = $null }
    }
    return $record
}

# An ErrorRecord -> the protocol's shape (PowerShell's own property names).
function ConvertTo-ErrorShape([object]$ErrorRecord) {
    $exception = $null
    if ($ErrorRecord -is [System.Management.Automation.ErrorRecord]) { $exception = $ErrorRecord.Exception }
    elseif ($ErrorRecord -is [System.Exception]) { $exception = $ErrorRecord; $ErrorRecord = $null }
    $typeName = 'System.Exception'
    $message = ''
    if ($null -ne $exception) {
        $typeName = $exception.GetType().FullName
        $message = $exception.Message
        # Deserialized remote errors keep the server's exception type in the error id / category.
    }
    $category = 'NotSpecified'; $activity = ''; $reason = ''; $target = ''; $fqid = ''
    if ($null -ne $ErrorRecord) {
        $category = $ErrorRecord.CategoryInfo.Category.ToString()
        $activity = [string]$ErrorRecord.CategoryInfo.Activity
        $reason = [string]$ErrorRecord.CategoryInfo.Reason
        $target = [string]$ErrorRecord.CategoryInfo.TargetName
        $fqid = [string]$ErrorRecord.FullyQualifiedErrorId
        if ($ErrorRecord.ErrorDetails -and $ErrorRecord.ErrorDetails.Message) { $message = $ErrorRecord.ErrorDetails.Message }
        if ($reason -and ($typeName -eq 'System.Management.Automation.RemoteException')) { $typeName = $reason }
    }
    return [ordered]@{
        Exception             = [ordered]@{ Type = $typeName; Message = $message }
        CategoryInfo          = [ordered]@{ Category = $category; Activity = $activity; Reason = $reason; TargetName = $target }
        FullyQualifiedErrorId = $fqid
    }
}

function Get-OpenFailureKind([System.Exception]$Exception) {
    $text = $Exception.Message
    if ($text -match 'concurrent shells|maximum of \d+') { return 'Throttled' }
    if ($text -match 'Access is denied|logon failure|user name or password|401|unauthorized|credentials') { return 'Authentication' }
    if ($Exception -is [System.Management.Automation.Remoting.PSRemotingTransportException]) { return 'Transport' }
    if ($text -match 'cannot connect|could not connect|cannot be resolved|unreachable|timed out|SSL|certificate|proxy') { return 'Transport' }
    return 'Other'
}

function Test-SessionBroken($Session) {
    if ($null -eq $Session) { return $true }
    return ($Session.State -ne 'Opened') -or ($Session.Availability -ne 'Available')
}

$session = $null
$module = $null
$exitCode = 0
try {
    $line = [Console]::In.ReadLine()
    if ($null -eq $line) { Write-Diag 'stdin closed before the open request'; exit 2 }
    $open = ConvertFrom-Json -InputObject $line
    $line = $null
    if ($open.op -ne 'open') { Write-Diag "the first request must be 'open', got '$($open.op)'"; exit 2 }

    try {
        $securePassword = ConvertTo-SecureString -String ([string]$open.password) -AsPlainText -Force
        $open.password = $null
        $credential = New-Object System.Management.Automation.PSCredential ([string]$open.userName, $securePassword)
        $optionArgs = @{}
        if ($open.PSObject.Properties['openTimeoutSeconds'] -and $open.openTimeoutSeconds) {
            $optionArgs['OpenTimeout'] = [int]$open.openTimeoutSeconds * 1000
        }
        if ($open.PSObject.Properties['proxy'] -and $null -ne $open.proxy) {
            Write-Diag "using the WinHTTP proxy configuration (requested proxy $($open.proxy.url))"
            $optionArgs['ProxyAccessType'] = 'WinHttpConfig'
            if ($open.proxy.PSObject.Properties['userName'] -and $open.proxy.userName) {
                $proxyPassword = ConvertTo-SecureString -String ([string]$open.proxy.password) -AsPlainText -Force
                $optionArgs['ProxyAuthentication'] = 'Negotiate'
                $optionArgs['ProxyCredential'] = New-Object System.Management.Automation.PSCredential ([string]$open.proxy.userName, $proxyPassword)
            }
        }
        $sessionOption = New-PSSessionOption @optionArgs
        $sessionArgs = @{
            ConfigurationName = 'Microsoft.Exchange'
            ConnectionUri     = [string]$open.connectionUri
            Authentication    = [string]$open.authentication
            Credential        = $credential
            SessionOption     = $sessionOption
            ErrorAction       = 'Stop'
        }
        $session = New-PSSession @sessionArgs
        # Implicit remoting: local proxy functions for the cmdlets the account's roles grant.
        # Names the account lacks are simply not imported; calling them later fails as "not recognized".
        $module = Import-PSSession -Session $session -CommandName $script:ImportedCommands -AllowClobber -DisableNameChecking -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        Write-Line ([ordered]@{
                op         = 'opened'
                runspaceId = $session.InstanceId.ToString()
                server     = [string]$session.ComputerName
                psVersion  = $PSVersionTable.PSVersion.ToString()
            })
    }
    catch {
        $kind = Get-OpenFailureKind $_.Exception
        Write-Line ([ordered]@{ op = 'openFailed'; error = (ConvertTo-ErrorShape $_); kind = $kind })
        # 'exit' still runs the finally block below (no session to remove, but stay uniform).
        exit 2
    }

    while ($true) {
        $line = [Console]::In.ReadLine()
        if ($null -eq $line) { break }
        if ($line.Trim().Length -eq 0) { continue }
        $request = ConvertFrom-Json -InputObject $line
        if ($request.op -eq 'close') { break }
        if ($request.op -ne 'invoke') { Write-Diag "ignoring request '$($request.op)'"; continue }

        $id = $request.id
        $cmdlet = [string]$request.cmdlet
        $count = 0
        $ok = $true
        if ($cmdlet -eq 'Get-Command') {
            # Restricted sessions allow no script blocks, so Get-Command is answered from the imported
            # proxies: exactly the requested cmdlets the account's roles grant.
            if ($null -ne $module) {
                foreach ($command in (Get-Command -Module $module.Name)) {
                    Write-Line ([ordered]@{ op = 'record'; id = $id; record = (ConvertTo-OutputRecord $command) })
                    $count++
                }
            }
            Write-Line ([ordered]@{ op = 'end'; id = $id; ok = $true; count = $count; sessionBroken = (Test-SessionBroken $session) })
            continue
        }
        $parameters = ConvertTo-Parameters $request.parameters
        $cmdletErrors = $null
        $parameters['ErrorVariable'] = 'cmdletErrors'
        $parameters['ErrorAction'] = 'SilentlyContinue'
        $parameters['WarningAction'] = 'SilentlyContinue'
        try {
            # Streamed: each object is written as the proxy yields it.
            & $cmdlet @parameters | ForEach-Object {
                Write-Line ([ordered]@{ op = 'record'; id = $id; record = (ConvertTo-OutputRecord $_) })
                $count++
            }
        }
        catch {
            $ok = $false
            Write-Line ([ordered]@{ op = 'error'; id = $id; error = (ConvertTo-ErrorShape $_) })
        }
        if ($null -ne $cmdletErrors) {
            foreach ($e in $cmdletErrors) {
                Write-Line ([ordered]@{ op = 'error'; id = $id; error = (ConvertTo-ErrorShape $e) })
            }
        }
        $broken = Test-SessionBroken $session
        Write-Line ([ordered]@{ op = 'end'; id = $id; ok = $ok; count = $count; sessionBroken = $broken })
    }
}
catch {
    Write-Diag "stopped: $($_.Exception.Message)"
    $exitCode = 1
}
finally {
    # Always release the shell: abandoned sessions count against PowerShellMaxConcurrency until they expire.
    if ($null -ne $module) { Remove-Module -Name $module.Name -Force -ErrorAction SilentlyContinue }
    if ($null -ne $session) { Remove-PSSession -Session $session -ErrorAction SilentlyContinue }
}
exit $exitCode
