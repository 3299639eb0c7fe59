using System.Security.Cryptography.X509Certificates;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Pop3;

/// <summary>Where USER/PASS and AUTH PLAIN may be used before TLS (RFC 2595 §2.1 and RFC 5034 §4 want TLS first).</summary>
public enum PlaintextAuthPolicy : byte
{
    /// <summary>Credentials only over TLS (STLS or the implicit-TLS listener).</summary>
    Never,
    /// <summary>Also on plaintext connections from loopback addresses: the password never leaves the host.</summary>
    LoopbackOnly,
    /// <summary>Also on any plaintext connection (labs; like Dovecot's disable_plaintext_auth = no).</summary>
    Always,
}

/// <summary>Validated POP3 settings; every limit names its source.</summary>
public sealed record Pop3ServerOptions
{
    /// <summary>Plain listeners (STLS when a certificate is set) and implicit-TLS listeners (port 995 style, RFC 8314 §3.3).</summary>
    public required IReadOnlyList<ListenEndpoint> Endpoints { get; init; }
    public X509Certificate2? Certificate { get; init; }
    public PlaintextAuthPolicy AllowPlaintextAuth { get; init; } = PlaintextAuthPolicy.LoopbackOnly;
    /// <summary>RFC 2449 §4 caps command lines at 255 octets; we accept up to 512 including CRLF, like SMTP (issue 4).</summary>
    public int MaxCommandLine { get; init; } = 512;
    /// <summary>RFC 1939 §3: an inactivity autologout timer, if any, must be of at least 10 minutes.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Client errors per session (unknown commands, bad syntax, out of state, failed logins) before -ERR and close; Postfix smtpd_hard_error_limit.</summary>
    public int MaxBadCommands { get; init; } = 20;
    /// <summary>Concurrent sessions in total; beyond: -ERR [SYS/TEMP] and close.</summary>
    public int MaxConnections { get; init; } = 1000;
    /// <summary>Concurrent sessions per client address (Dovecot mail_max_userip_connections is 10 per user and address).</summary>
    public int MaxConnectionsPerClient { get; init; } = 50;
    /// <summary>A failed login is answered only after this delay (Dovecot auth_failure_delay: 2 s).</summary>
    public TimeSpan FailedLoginDelay { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Failed logins per client address within <see cref="FailedLoginWindow"/> before further attempts are refused unchecked.</summary>
    public int MaxFailedLoginsPerClient { get; init; } = 10;
    public TimeSpan FailedLoginWindow { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>How long sessions may take to finish a QUIT commit at shutdown.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting that is out of range.</summary>
    public void Validate()
    {
        if (Endpoints.Count == 0) throw new ArgumentException("At least one POP3 endpoint is needed.", nameof(Endpoints));
        if (Endpoints.Any(e => e.ImplicitTls) && Certificate is null) throw new ArgumentException("Implicit TLS needs a certificate.", nameof(Certificate));
        if (MaxCommandLine is < 255 or > 8192) throw new ArgumentException("Between 255 (RFC 2449 §4) and 8192.", nameof(MaxCommandLine));
        if (IdleTimeout < TimeSpan.FromMinutes(10)) throw new ArgumentException("At least 10 minutes (RFC 1939 §3).", nameof(IdleTimeout));
        if (MaxBadCommands < 1) throw new ArgumentException("At least 1.", nameof(MaxBadCommands));
        if (MaxConnections < 1) throw new ArgumentException("At least 1.", nameof(MaxConnections));
        if (MaxConnectionsPerClient < 1) throw new ArgumentException("At least 1.", nameof(MaxConnectionsPerClient));
        if (FailedLoginDelay < TimeSpan.Zero) throw new ArgumentException("Not negative.", nameof(FailedLoginDelay));
        if (MaxFailedLoginsPerClient < 1) throw new ArgumentException("At least 1.", nameof(MaxFailedLoginsPerClient));
        if (FailedLoginWindow <= TimeSpan.Zero) throw new ArgumentException("Positive.", nameof(FailedLoginWindow));
    }
}
