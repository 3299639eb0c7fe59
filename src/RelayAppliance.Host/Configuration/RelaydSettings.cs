namespace RelayAppliance.Host.Configuration;

// The configuration contract: section and key names are what operators write in JSON files, RELAYD_ environment
// variables and --Section:Key=value overrides. Renaming one breaks their scripts. Defaults live in
// SettingsLoader (after binding) so lists are replaced, not appended to.

internal sealed class RelaydSettings
{
    public SmtpSettings Smtp { get; set; } = new();
    public RelaySettings Relay { get; set; } = new();
    public TlsSettings Tls { get; set; } = new();
    public SpoolSettings Spool { get; set; } = new();
    public UsersSettings Users { get; set; } = new();
    public LogSettings Log { get; set; } = new();
    public DeliverySettings Delivery { get; set; } = new();
    public DnsSettings Dns { get; set; } = new();
    public MailboxesSettings Mailboxes { get; set; } = new();
    public Pop3Settings Pop3 { get; set; } = new();

    // The settings that hold several values: lists (Key:0, Key:1, …) and maps (Key:NAME). Every other setting holds
    // one value. SettingsLoader rejects a key that does not fit, because the binder would ignore it without a word.
    internal static readonly string[] Lists =
        ["Smtp:Listen", "Smtp:ImplicitTlsListen", "Pop3:Listen", "Pop3:ImplicitTlsListen", "Relay:LocalDomains", "Relay:RelayDomains", "Relay:TrustedNetworks", "Dns:Servers"];
    internal static readonly string[] Maps = ["Mailboxes:Aliases", "Mailboxes:CatchAll", "Delivery:Transports"];
}

internal sealed class Pop3Settings
{
    public bool Enabled { get; set; } = true;
    public List<string>? Listen { get; set; }
    public List<string>? ImplicitTlsListen { get; set; }
    /// <summary>USER/PASS and AUTH PLAIN without TLS: "never", "loopback" (clients on 127/8, ::1) or "always".</summary>
    public string AllowPlaintextAuth { get; set; } = "loopback";
    public int MaxConnections { get; set; } = 1000;
    public int MaxConnectionsPerClient { get; set; } = 50;
    public int IdleTimeoutSeconds { get; set; } = 600;
    public int MaxBadCommands { get; set; } = 20;
}

internal sealed class MailboxesSettings
{
    /// <summary>Per mailbox; 0: unlimited.</summary>
    public long QuotaMegabytes { get; set; } = 1024;
    /// <summary>Address → mailbox, both in local domains (postmaster@example.com → alice@example.com).</summary>
    public Dictionary<string, string>? Aliases { get; set; }
    /// <summary>Local domain → mailbox that gets mail for its unknown addresses.</summary>
    public Dictionary<string, string>? CatchAll { get; set; }
}

internal sealed class SmtpSettings
{
    public List<string>? Listen { get; set; }
    public List<string>? ImplicitTlsListen { get; set; }
    public long MaxMessageSize { get; set; } = 10_240_000;
    public int MaxRecipients { get; set; } = 1000;
    public int MaxConnections { get; set; } = 2000;
    public int MaxConnectionsPerClient { get; set; } = 50;
    public int MaxBadCommands { get; set; } = 20;
    public int IdleTimeoutSeconds { get; set; } = 300;
    public int ShutdownTimeoutSeconds { get; set; } = 10;
    public bool AllowPlaintextAuth { get; set; }
    public string BareLineEndings { get; set; } = "reject";
}

internal sealed class RelaySettings
{
    public string? Hostname { get; set; }
    public string DataDirectory { get; set; } = "./data";
    public List<string>? LocalDomains { get; set; }
    public List<string>? RelayDomains { get; set; }
    public List<string>? TrustedNetworks { get; set; }
}

internal sealed class TlsSettings
{
    public string? CertificateFile { get; set; }
    public string? KeyFile { get; set; }
}

internal sealed class SpoolSettings
{
    public long MinimumFreeMegabytes { get; set; } = 256;
}

internal sealed class UsersSettings
{
    public int Pbkdf2Iterations { get; set; } = Server.Accounts.UserStore.DefaultIterations;
}

internal sealed class LogSettings
{
    public string Level { get; set; } = "Information";
}

internal sealed class DeliverySettings
{
    /// <summary>false: accept and queue only (no outbound delivery).</summary>
    public bool Enabled { get; set; } = true;
    /// <summary>domain → "host[:port]" or several, comma-separated, tried in order; host is an IP, [IPv6] or a name.</summary>
    public Dictionary<string, string>? Transports { get; set; }
    /// <summary>"host[:port]" list, as for Transports.</summary>
    public string? Smarthost { get; set; }
    public string? SmarthostUser { get; set; }
    public string? SmarthostPassword { get; set; }
    public string Tls { get; set; } = "opportunistic";
    public int MaxConnectionsPerDestination { get; set; } = 20;
    public int MaxConnections { get; set; } = 100;
    public TimeSpan QueueLifetime { get; set; } = TimeSpan.FromDays(5);
    public TimeSpan MinimumBackoff { get; set; } = TimeSpan.FromSeconds(300);
    public TimeSpan MaximumBackoff { get; set; } = TimeSpan.FromSeconds(4000);
    /// <summary>Zero: no delay notifications (Postfix's default); else one DSN "delayed" after this long.</summary>
    public TimeSpan DelayWarningTime { get; set; } = TimeSpan.Zero;
    public int MxPort { get; set; } = 25;
}

internal sealed class DnsSettings
{
    /// <summary>"ip[:port]" list; empty: the servers in /etc/resolv.conf.</summary>
    public List<string>? Servers { get; set; }
    public int TimeoutSeconds { get; set; } = 5;
}
