using System.Collections;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Host.Load;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Host.Configuration;

/// <summary>Thrown for a bad setting; the message names the key. relayd exits 2.</summary>
internal sealed class ConfigurationException(string message) : Exception(message);

/// <summary>Everything relayd needs, validated, with embedded defaults applied.</summary>
internal sealed record RelaydConfiguration(
    RelaydSettings Settings,
    string DataDirectory,
    string Hostname,
    IReadOnlyList<string> LocalDomains,
    IReadOnlyList<string> RelayDomains,
    IReadOnlyList<IPNetwork> TrustedNetworks,
    IReadOnlyList<ListenEndpoint> Endpoints,
    LogLevel LogLevel)
{
    public string SpoolDirectory => Path.Combine(DataDirectory, "spool");
    public string AdminSocketPath => Path.Combine(DataDirectory, "relayd.sock");
    public string MailboxDirectory => Path.Combine(DataDirectory, "mailboxes");
    public IReadOnlyList<ListenEndpoint> Pop3Endpoints { get; init; } = [];
    /// <summary>Every key set in the file, environment or command line, as text ("Smtp:Listen:0" → "127.0.0.1:25").</summary>
    public IReadOnlyDictionary<string, string> Values { get; init; } = new Dictionary<string, string>();
}

internal static class SettingsLoader
{
    public const string EnvironmentPrefix = "RELAYD_";

    /// <summary>File (optional) &lt; environment &lt; command line, as .NET configuration layers them.</summary>
    public static RelaydConfiguration Load(string? configFile, IReadOnlyList<string> overrides)
    {
        var builder = new ConfigurationBuilder();
        if (configFile is not null)
        {
            var fullPath = Path.GetFullPath(configFile);
            if (!File.Exists(fullPath))
            {
                throw new ConfigurationException($"--config: file '{configFile}' does not exist");
            }
            builder.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
        }
        builder.AddInMemoryCollection(EnvironmentSettings(Environment.GetEnvironmentVariables()));
        builder.AddCommandLine(overrides.ToArray());

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException)
        {
            throw new ConfigurationException($"cannot read configuration: {e.Message}");
        }
        var settings = new RelaydSettings();
        try
        {
            root.Bind(settings, options => options.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigurationException(e.Message);
        }
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in root.AsEnumerable())
        {
            if (value is not null)
            {
                RequireShape(key);
                values[key] = value;
            }
        }
        return Validate(settings) with { Values = values };
    }

    /// <summary>
    /// RELAYD_Section__Key variables as configuration keys (Section:Key), as AddEnvironmentVariables reads them, except
    /// <see cref="LoadOptions.PasswordVariable"/>: `relayd load`'s password shares the prefix but is no setting, and
    /// as one it would stop every other command run from the same shell with "unknown key LOAD_PASSWORD".
    /// </summary>
    internal static Dictionary<string, string?> EnvironmentSettings(IDictionary environment)
    {
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry variable in environment)
        {
            var name = (string)variable.Key;
            if (name.StartsWith(EnvironmentPrefix, StringComparison.OrdinalIgnoreCase)
                && !name.Equals(LoadOptions.PasswordVariable, StringComparison.OrdinalIgnoreCase))
            {
                settings[name[EnvironmentPrefix.Length..].Replace("__", ConfigurationPath.KeyDelimiter, StringComparison.Ordinal)] = (string?)variable.Value;
            }
        }
        return settings;
    }

    /// <summary>
    /// The binder ignores a value given to a list ("Smtp:Listen=…") and anything below a single value
    /// ("Delivery:Smarthost:0=…"): the setting would keep its default without a word, e.g. relayd listening on 2525
    /// when the operator asked for port 25.
    /// </summary>
    private static void RequireShape(string key)
    {
        var parts = key.Split(':');
        if (parts.Length < 2)
        {
            // Every top-level name is a section (an unknown one the binder has already refused).
            throw new ConfigurationException($"{key}: is a section: set its keys as {key}:KEY=VALUE");
        }
        var setting = $"{parts[0]}:{parts[1]}";
        bool list = RelaydSettings.Lists.Contains(setting, StringComparer.OrdinalIgnoreCase);
        bool map = RelaydSettings.Maps.Contains(setting, StringComparer.OrdinalIgnoreCase);
        if (list && parts.Length == 2)
        {
            throw new ConfigurationException(
                $"{key}: is a list: give its values as {setting}:0, {setting}:1, … (environment: RELAYD_{parts[0]}__{parts[1]}__0)");
        }
        if (map && parts.Length == 2)
        {
            throw new ConfigurationException($"{key}: is a map: give its entries as {setting}:NAME=VALUE");
        }
        Require(parts.Length <= (list || map ? 3 : 2), key, $"{setting} takes a single value: write {setting}=VALUE");
    }

    /// <summary>
    /// Settings a reload does not apply: listeners, where the data lives, and what the delivery service and its resolver
    /// were built with. Prefixes of configuration keys.
    /// </summary>
    private static readonly string[] RestartOnly =
    [
        "Smtp:Listen", "Smtp:ImplicitTlsListen", "Pop3:Enabled", "Pop3:Listen", "Pop3:ImplicitTlsListen",
        "Relay:DataDirectory", "Relay:Hostname", "Spool", "Log", "Delivery", "Dns",
    ];

    /// <summary>The keys under <see cref="RestartOnly"/> whose value differs between two loads, sorted.</summary>
    public static IReadOnlyList<string> RestartRequiredChanges(RelaydConfiguration running, RelaydConfiguration loaded)
    {
        var changed = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var key in running.Values.Keys.Union(loaded.Values.Keys, StringComparer.OrdinalIgnoreCase))
        {
            if (!RestartOnly.Any(p => key.Equals(p, StringComparison.OrdinalIgnoreCase) || key.StartsWith(p + ":", StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }
            running.Values.TryGetValue(key, out var before);
            loaded.Values.TryGetValue(key, out var after);
            if (!string.Equals(before, after, StringComparison.Ordinal))
            {
                changed.Add(key);
            }
        }
        return changed.ToList();
    }

    private static RelaydConfiguration Validate(RelaydSettings settings)
    {
        var smtp = settings.Smtp;
        var relay = settings.Relay;
        Require(smtp.MaxMessageSize > 0, "Smtp:MaxMessageSize", "must be a positive number of bytes");
        Require(smtp.MaxRecipients >= 100, "Smtp:MaxRecipients", "must be at least 100 (RFC 5321 §4.5.3.1.8)");
        Require(smtp.MaxConnections > 0, "Smtp:MaxConnections", "must be positive");
        Require(smtp.MaxConnectionsPerClient > 0, "Smtp:MaxConnectionsPerClient", "must be positive");
        Require(smtp.MaxBadCommands > 0, "Smtp:MaxBadCommands", "must be positive");
        Require(smtp.IdleTimeoutSeconds > 0, "Smtp:IdleTimeoutSeconds", "must be positive");
        Require(smtp.ShutdownTimeoutSeconds >= 0, "Smtp:ShutdownTimeoutSeconds", "must not be negative");
        Require(smtp.BareLineEndings is "reject" or "normalize", "Smtp:BareLineEndings", "must be 'reject' or 'normalize'");
        Require(settings.Spool.MinimumFreeMegabytes >= 0, "Spool:MinimumFreeMegabytes", "must not be negative");
        Require(settings.Users.Pbkdf2Iterations >= 1000, "Users:Pbkdf2Iterations", "must be at least 1000");
        Require(Enum.TryParse<LogLevel>(settings.Log.Level, ignoreCase: true, out var logLevel), "Log:Level",
            "must be one of Trace, Debug, Information, Warning, Error, Critical, None");
        Require(!string.IsNullOrWhiteSpace(relay.DataDirectory), "Relay:DataDirectory", "must not be empty");

        var hostname = string.IsNullOrWhiteSpace(relay.Hostname) ? MachineHostname() : relay.Hostname.Trim();
        Require(IsDomain(hostname), "Relay:Hostname", $"'{hostname}' is not a valid host name");

        var localDomains = NonEmpty(relay.LocalDomains) ?? ["localhost", hostname];
        var relayDomains = NonEmpty(relay.RelayDomains) ?? [];
        for (var i = 0; i < localDomains.Count; i++)
        {
            Require(IsDomain(localDomains[i]), $"Relay:LocalDomains:{i}", $"'{localDomains[i]}' is not a domain");
        }
        for (var i = 0; i < relayDomains.Count; i++)
        {
            Require(IsDomain(relayDomains[i].TrimStart('.')), $"Relay:RelayDomains:{i}", $"'{relayDomains[i]}' is not a domain");
        }

        var networks = new List<IPNetwork>();
        var trusted = NonEmpty(relay.TrustedNetworks) ?? ["127.0.0.0/8", "::1/128"];
        for (var i = 0; i < trusted.Count; i++)
        {
            networks.Add(ParseNetwork(trusted[i], $"Relay:TrustedNetworks:{i}"));
        }

        var endpoints = new List<ListenEndpoint>();
        var listen = NonEmpty(smtp.Listen) ?? ["127.0.0.1:2525"];
        for (var i = 0; i < listen.Count; i++)
        {
            endpoints.Add(new ListenEndpoint(ParseEndpoint(listen[i], $"Smtp:Listen:{i}"), ImplicitTls: false));
        }
        var implicitTls = NonEmpty(smtp.ImplicitTlsListen) ?? [];
        for (var i = 0; i < implicitTls.Count; i++)
        {
            endpoints.Add(new ListenEndpoint(ParseEndpoint(implicitTls[i], $"Smtp:ImplicitTlsListen:{i}"), ImplicitTls: true));
        }

        var hasCert = !string.IsNullOrWhiteSpace(settings.Tls.CertificateFile);
        var hasKey = !string.IsNullOrWhiteSpace(settings.Tls.KeyFile);
        Require(hasCert == hasKey, hasCert ? "Tls:KeyFile" : "Tls:CertificateFile", "must be set together with the other TLS file");
        Require(hasCert || implicitTls.Count == 0, "Smtp:ImplicitTlsListen", "needs Tls:CertificateFile and Tls:KeyFile");
        if (hasCert)
        {
            Require(File.Exists(settings.Tls.CertificateFile), "Tls:CertificateFile", $"'{settings.Tls.CertificateFile}' does not exist");
            Require(File.Exists(settings.Tls.KeyFile), "Tls:KeyFile", $"'{settings.Tls.KeyFile}' does not exist");
        }

        ValidateDelivery(settings);
        ValidateMailboxes(settings.Mailboxes, localDomains);
        var pop3 = settings.Pop3;
        Require(pop3.AllowPlaintextAuth is "never" or "loopback" or "always", "Pop3:AllowPlaintextAuth", "must be 'never', 'loopback' or 'always'");
        Require(pop3.MaxConnections > 0, "Pop3:MaxConnections", "must be positive");
        Require(pop3.MaxConnectionsPerClient > 0, "Pop3:MaxConnectionsPerClient", "must be positive");
        Require(pop3.IdleTimeoutSeconds >= 600, "Pop3:IdleTimeoutSeconds", "must be at least 600 (RFC 1939 §3: ten minutes)");
        Require(pop3.MaxBadCommands > 0, "Pop3:MaxBadCommands", "must be positive");
        var pop3Endpoints = new List<ListenEndpoint>();
        var pop3Listen = NonEmpty(pop3.Listen) ?? ["127.0.0.1:1110"];
        for (var i = 0; i < pop3Listen.Count; i++)
        {
            pop3Endpoints.Add(new ListenEndpoint(ParseEndpoint(pop3Listen[i], $"Pop3:Listen:{i}"), ImplicitTls: false));
        }
        var pop3Tls = NonEmpty(pop3.ImplicitTlsListen) ?? [];
        for (var i = 0; i < pop3Tls.Count; i++)
        {
            pop3Endpoints.Add(new ListenEndpoint(ParseEndpoint(pop3Tls[i], $"Pop3:ImplicitTlsListen:{i}"), ImplicitTls: true));
        }
        Require(hasCert || pop3Tls.Count == 0, "Pop3:ImplicitTlsListen", "needs Tls:CertificateFile and Tls:KeyFile");
        return new RelaydConfiguration(settings, Path.GetFullPath(relay.DataDirectory), hostname, localDomains, relayDomains,
            networks, endpoints, logLevel) { Pop3Endpoints = pop3Endpoints };
    }

    /// <summary>The SMTP options for the server, loading the certificate when one is configured.</summary>
    public static SmtpServerOptions CreateSmtpOptions(RelaydConfiguration configuration)
    {
        var smtp = configuration.Settings.Smtp;
        return new SmtpServerOptions
        {
            Endpoints = configuration.Endpoints,
            Hostname = configuration.Hostname,
            MaxMessageSize = smtp.MaxMessageSize,
            MaxRecipients = smtp.MaxRecipients,
            MaxConnections = smtp.MaxConnections,
            MaxConnectionsPerClient = smtp.MaxConnectionsPerClient,
            MaxBadCommands = smtp.MaxBadCommands,
            IdleTimeout = TimeSpan.FromSeconds(smtp.IdleTimeoutSeconds),
            ShutdownGrace = TimeSpan.FromSeconds(smtp.ShutdownTimeoutSeconds),
            AllowPlaintextAuth = smtp.AllowPlaintextAuth,
            BareLineEndings = smtp.BareLineEndings == "normalize" ? BareLineEndingPolicy.Normalize : BareLineEndingPolicy.Reject,
            Certificate = LoadCertificate(configuration.Settings.Tls),
        };
    }

    private static void ValidateDelivery(RelaydSettings settings)
    {
        var delivery = settings.Delivery;
        Require(delivery.Tls is "none" or "opportunistic" or "required", "Delivery:Tls", "must be 'none', 'opportunistic' or 'required'");
        Require(delivery.MaxConnectionsPerDestination > 0, "Delivery:MaxConnectionsPerDestination", "must be positive");
        Require(delivery.MaxConnections > 0, "Delivery:MaxConnections", "must be positive");
        Require(delivery.QueueLifetime > TimeSpan.Zero, "Delivery:QueueLifetime", "must be positive (like 5.00:00:00)");
        Require(delivery.MinimumBackoff > TimeSpan.Zero && delivery.MaximumBackoff >= delivery.MinimumBackoff,
            "Delivery:MaximumBackoff", "must be at least Delivery:MinimumBackoff, which must be positive");
        Require(delivery.DelayWarningTime >= TimeSpan.Zero, "Delivery:DelayWarningTime", "must not be negative (0 turns delay notifications off; like 04:00:00)");
        Require(delivery.MxPort is > 0 and <= 65535, "Delivery:MxPort", "must be a port number");
        Require(settings.Dns.TimeoutSeconds > 0, "Dns:TimeoutSeconds", "must be positive");
        Require(string.IsNullOrEmpty(delivery.SmarthostUser) == string.IsNullOrEmpty(delivery.SmarthostPassword),
            "Delivery:SmarthostPassword", "must be set together with Delivery:SmarthostUser");
        _ = Transports(delivery);
        _ = NextHopList(delivery.Smarthost, "Delivery:Smarthost");
        _ = DnsServers(settings.Dns);
    }

    /// <summary>Aliases and catch-alls must stay inside the local domains: they name mailboxes, not routes.</summary>
    private static void ValidateMailboxes(MailboxesSettings mailboxes, IReadOnlyList<string> localDomains)
    {
        Require(mailboxes.QuotaMegabytes >= 0, "Mailboxes:QuotaMegabytes", "must not be negative (0: unlimited)");
        bool IsLocalAddress(string address)
        {
            var at = address.LastIndexOf('@');
            return at > 0 && localDomains.Contains(address[(at + 1)..], StringComparer.OrdinalIgnoreCase)
                && Server.Accounts.UserStore.IsValidAddress(address);
        }
        foreach (var (alias, target) in mailboxes.Aliases ?? [])
        {
            Require(IsLocalAddress(alias), $"Mailboxes:Aliases:{alias}", "must be an address in one of Relay:LocalDomains");
            Require(IsLocalAddress(target), $"Mailboxes:Aliases:{alias}", $"'{target}' must be a mailbox address in one of Relay:LocalDomains");
        }
        foreach (var (domain, target) in mailboxes.CatchAll ?? [])
        {
            Require(localDomains.Contains(domain, StringComparer.OrdinalIgnoreCase), $"Mailboxes:CatchAll:{domain}", "must be one of Relay:LocalDomains");
            Require(IsLocalAddress(target), $"Mailboxes:CatchAll:{domain}", $"'{target}' must be a mailbox address in one of Relay:LocalDomains");
        }
    }

    /// <summary>The delivery options, with routes parsed (they were validated at load).</summary>
    public static DeliveryOptions CreateDeliveryOptions(RelaydConfiguration configuration)
    {
        var delivery = configuration.Settings.Delivery;
        return new DeliveryOptions
        {
            Hostname = configuration.Hostname,
            Transports = Transports(delivery),
            Smarthost = NextHopList(delivery.Smarthost, "Delivery:Smarthost"),
            SmarthostCredentials = string.IsNullOrEmpty(delivery.SmarthostUser) ? null
                : new SmtpCredentials(delivery.SmarthostUser, delivery.SmarthostPassword!),
            Tls = delivery.Tls switch { "none" => TlsPolicy.None, "required" => TlsPolicy.Required, _ => TlsPolicy.Opportunistic },
            MaxConnections = delivery.MaxConnections,
            PerDestination = new ConcurrencyOptions { Limit = delivery.MaxConnectionsPerDestination, Initial = Math.Min(5, delivery.MaxConnectionsPerDestination) },
            Retry = new RetryPolicy { QueueLifetime = delivery.QueueLifetime, MinimumBackoff = delivery.MinimumBackoff, MaximumBackoff = delivery.MaximumBackoff },
            DelayWarningTime = delivery.DelayWarningTime,
            RemoteEnabled = delivery.Enabled,
            LocalDomains = configuration.LocalDomains.ToList(),
            MxPort = delivery.MxPort,
            OwnEndpoints = configuration.Endpoints.Select(e => e.EndPoint).ToList(),
        };
    }

    public static Server.Accounts.MailboxDirectory CreateMailboxDirectory(RelaydConfiguration configuration, Server.Accounts.UserStore users,
        Spool.Mailboxes.MailboxStore store)
    {
        var settings = configuration.Settings.Mailboxes;
        return new Server.Accounts.MailboxDirectory(users, configuration.LocalDomains,
            settings.Aliases ?? [], settings.CatchAll ?? [], store.UsedBytes, settings.QuotaMegabytes * 1024 * 1024);
    }

    public static Pop3ServerOptions CreatePop3Options(RelaydConfiguration configuration, X509Certificate2? certificate)
    {
        var pop3 = configuration.Settings.Pop3;
        return new Pop3ServerOptions
        {
            Endpoints = configuration.Pop3Endpoints,
            Certificate = certificate,
            AllowPlaintextAuth = pop3.AllowPlaintextAuth switch
            {
                "never" => PlaintextAuthPolicy.Never,
                "always" => PlaintextAuthPolicy.Always,
                _ => PlaintextAuthPolicy.LoopbackOnly,
            },
            MaxConnections = pop3.MaxConnections,
            MaxConnectionsPerClient = pop3.MaxConnectionsPerClient,
            IdleTimeout = TimeSpan.FromSeconds(pop3.IdleTimeoutSeconds),
            MaxBadCommands = pop3.MaxBadCommands,
            ShutdownGrace = TimeSpan.FromSeconds(configuration.Settings.Smtp.ShutdownTimeoutSeconds),
        };
    }

    public static DnsOptions CreateDnsOptions(RelaydConfiguration configuration) => new()
    {
        Servers = DnsServers(configuration.Settings.Dns),
        Timeout = TimeSpan.FromSeconds(configuration.Settings.Dns.TimeoutSeconds),
    };

    private static Dictionary<string, IReadOnlyList<NextHop>> Transports(DeliverySettings delivery)
    {
        var routes = new Dictionary<string, IReadOnlyList<NextHop>>(StringComparer.OrdinalIgnoreCase);
        foreach (var (domain, hops) in delivery.Transports ?? [])
        {
            var key = $"Delivery:Transports:{domain}";
            Require(IsDomain(domain), key, $"'{domain}' is not a domain");
            routes[domain.ToLowerInvariant()] = NextHopList(hops, key);
            Require(routes[domain.ToLowerInvariant()].Count > 0, key, "needs at least one host[:port]");
        }
        return routes;
    }

    private static List<IPEndPoint> DnsServers(DnsSettings dns)
    {
        var servers = new List<IPEndPoint>();
        var list = NonEmpty(dns.Servers) ?? [];
        for (var i = 0; i < list.Count; i++)
        {
            servers.AddRange(HopList(list[i], $"Dns:Servers:{i}", 53));
        }
        return servers;
    }

    /// <summary>"ip[:port]" items, comma-separated. No names: DNS servers cannot be found through DNS.</summary>
    private static List<IPEndPoint> HopList(string? text, string key, int defaultPort)
    {
        var hops = new List<IPEndPoint>();
        foreach (var item in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (IPAddress.TryParse(item.Trim('[', ']'), out var bare))
            {
                hops.Add(new IPEndPoint(bare, defaultPort));
                continue;
            }
            var endpoint = ParseEndpoint(item, key);
            Require(!endpoint.Address.Equals(IPAddress.Any), key, $"'{item}' must name an IP address, not '*'");
            hops.Add(endpoint);
        }
        return hops;
    }

    /// <summary>
    /// "host[:port]" items, comma-separated, port 25 by default. host is an IPv4 address, an IPv6 address in brackets
    /// ([::1]:2525; bare when there is no port) or a DNS name, looked up (A/AAAA, never MX) at delivery time; Postfix's
    /// "[name]:port" spelling is taken too, with the same meaning.
    /// </summary>
    private static List<NextHop> NextHopList(string? text, string key)
    {
        var hops = new List<NextHop>();
        foreach (var item in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            hops.Add(ParseNextHop(item, key));
        }
        return hops;
    }

    internal static NextHop ParseNextHop(string item, string key)
    {
        const int DefaultPort = 25; // RFC 5321 §4.5.4.2
        var problem = $"'{item}' is not host[:port] (like mail.example.com:25, 192.0.2.1:25 or [2001:db8::1]:25)";
        // Not for "[...]": IPAddress.TryParse takes "[::1]:2526" and drops the port.
        if (!item.StartsWith('[') && IPAddress.TryParse(item, out _))
        {
            return CheckedHop(item, DefaultPort, key);   // 192.0.2.1, or an IPv6 address without a port
        }
        string host;
        var portText = ReadOnlySpan<char>.Empty;
        var hasPort = false;
        if (item.StartsWith('['))
        {
            var close = item.IndexOf(']', StringComparison.Ordinal);
            Require(close > 1 && (close == item.Length - 1 || item[close + 1] == ':'), key, problem);
            host = item[1..close];
            hasPort = close < item.Length - 1;
            portText = hasPort ? item.AsSpan(close + 2) : portText;
        }
        else
        {
            var colon = item.LastIndexOf(':');
            hasPort = colon >= 0;
            host = hasPort ? item[..colon] : item;
            portText = hasPort ? item.AsSpan(colon + 1) : portText;
        }
        var port = DefaultPort;
        Require(!hasPort || (int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535),
            key, problem);
        Require(host.Length > 0 && (IPAddress.TryParse(host, out _) || host == "localhost" || IsDomain(host)), key, problem);
        return CheckedHop(host, port, key);
    }

    private static NextHop CheckedHop(string host, int port, string key)
    {
        // "localhost" is not asked of the configured DNS servers (they need not know it).
        var hop = new NextHop(host == "localhost" ? "127.0.0.1" : host, port);
        Require(hop.Address is null || !(hop.Address.Equals(IPAddress.Any) || hop.Address.Equals(IPAddress.IPv6Any)), key,
            $"'{host}' must name a host, not all addresses");
        return hop;
    }

    private static X509Certificate2? LoadCertificate(TlsSettings tls)
    {
        if (string.IsNullOrWhiteSpace(tls.CertificateFile) || string.IsNullOrWhiteSpace(tls.KeyFile))
        {
            return null;
        }
        try
        {
            return X509Certificate2.CreateFromPemFile(tls.CertificateFile, tls.KeyFile);
        }
        catch (CryptographicException e)
        {
            throw new ConfigurationException($"Tls:CertificateFile/Tls:KeyFile: cannot load the certificate and key: {e.Message}");
        }
    }

    private static void Require(bool condition, string key, string problem)
    {
        if (!condition)
        {
            throw new ConfigurationException($"{key}: {problem}");
        }
    }

    private static List<string>? NonEmpty(List<string>? values)
    {
        var kept = values?.Where(v => !string.IsNullOrWhiteSpace(v)).Select(v => v.Trim()).ToList();
        return kept is { Count: > 0 } ? kept : null;
    }

    private static string MachineHostname()
    {
        var name = Dns.GetHostName();
        return IsDomain(name) ? name.ToLowerInvariant() : "localhost";
    }

    /// <summary>Letters, digits, hyphens and dots; labels of 1–63 characters (RFC 1035 §2.3.1).</summary>
    internal static bool IsDomain(string value)
    {
        if (value.Length is 0 or > 253)
        {
            return false;
        }
        foreach (var label in value.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-'
                || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }
        return true;
    }

    internal static IPNetwork ParseNetwork(string text, string key)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }
        if (IPAddress.TryParse(text, out var address))
        {
            return new IPNetwork(address, address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
        }
        throw new ConfigurationException($"{key}: '{text}' is not a CIDR network (like 192.0.2.0/24)");
    }

    /// <summary>host:port with an IP address, "localhost" or "*" (all addresses); IPv6 as [::1]:25.</summary>
    internal static IPEndPoint ParseEndpoint(string text, string key)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port is < 0 or > 65535)
        {
            throw new ConfigurationException($"{key}: '{text}' is not host:port (like 127.0.0.1:2525)");
        }
        var host = text[..colon].Trim('[', ']');
        IPAddress? address = host switch
        {
            "*" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var parsed) ? parsed : null,
        };
        return address is null
            ? throw new ConfigurationException($"{key}: '{host}' is not an IP address, 'localhost' or '*'")
            : new IPEndPoint(address, port);
    }
}
