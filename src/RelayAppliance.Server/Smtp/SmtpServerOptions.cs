using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace RelayAppliance.Server.Smtp;

public enum BareLineEndingPolicy : byte { Reject, Normalize }

public sealed record ListenEndpoint(IPEndPoint EndPoint, bool ImplicitTls);

/// <summary>Validated SMTP ingress settings; every limit names its source.</summary>
public sealed record SmtpServerOptions
{
    public required IReadOnlyList<ListenEndpoint> Endpoints { get; init; }
    public required string Hostname { get; init; }
    /// <summary>Postfix message_size_limit default: 10 240 000 bytes.</summary>
    public long MaxMessageSize { get; init; } = 10_240_000;
    /// <summary>RFC 5321 §4.5.3.1.8 asks for at least 100; Postfix smtpd_recipient_limit is 1000.</summary>
    public int MaxRecipients { get; init; } = 1000;
    /// <summary>RFC 5321 §4.5.3.1.4: 512 octets including CRLF.</summary>
    public int MaxCommandLine { get; init; } = 512;
    /// <summary>RFC 5321 §4.5.3.1.6: 1000 octets including CRLF.</summary>
    public int MaxTextLine { get; init; } = 1000;
    /// <summary>Postfix smtpd_hard_error_limit: 20 errors, then 421 and close.</summary>
    public int MaxBadCommands { get; init; } = 20;
    /// <summary>RFC 5321 §4.5.3.2.7: the server timeout is at least 5 minutes (Postfix smtpd_timeout 300 s).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Total concurrent sessions (Postfix default_process_limit is 100; we are not process-bound).</summary>
    public int MaxConnections { get; init; } = 2000;
    /// <summary>Postfix smtpd_client_connection_count_limit: 50.</summary>
    public int MaxConnectionsPerClient { get; init; } = 50;
    /// <summary>AUTH is offered only after STARTTLS unless this is set (RFC 4954 §4 SHOULD).</summary>
    public bool AllowPlaintextAuth { get; init; }
    public BareLineEndingPolicy BareLineEndings { get; init; } = BareLineEndingPolicy.Reject;
    public X509Certificate2? Certificate { get; init; }
    /// <summary>How long in-flight transactions may take to finish at shutdown.</summary>
    public TimeSpan ShutdownGrace { get; init; } = TimeSpan.FromSeconds(10);
}
