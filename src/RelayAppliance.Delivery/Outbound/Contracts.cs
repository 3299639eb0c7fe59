// API CONTRACT STUBS (issue 3): what the delivery scheduler codes against. Implementations replace the bodies
// and may add files and internal members; keep these public signatures.
// SmtpOutboundConnection (public surface unchanged, now a partial class) lives in SmtpOutboundConnection*.cs.
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace RelayAppliance.Delivery.Outbound;

public enum TlsPolicy : byte { None, Opportunistic, Required }

/// <summary>RFC 5321 §4.5.3.2 client timeouts and connection reuse limits.</summary>
public sealed record OutboundOptions
{
    /// <summary>Our name in EHLO/HELO (Relay:Hostname).</summary>
    public required string HeloName { get; init; }
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>§4.5.3.2.1 initial 220: 5 minutes.</summary>
    public TimeSpan GreetingTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>§4.5.3.2.2/3 MAIL and RCPT: 5 minutes.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>§4.5.3.2.4 DATA initiation: 2 minutes.</summary>
    public TimeSpan DataInitiationTimeout { get; init; } = TimeSpan.FromMinutes(2);
    /// <summary>§4.5.3.2.5 each data block: 3 minutes.</summary>
    public TimeSpan DataBlockTimeout { get; init; } = TimeSpan.FromMinutes(3);
    /// <summary>§4.5.3.2.6 final dot to 250: 10 minutes.</summary>
    public TimeSpan DataTerminationTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Callback for remote certificates under TLS (null: accept any, as opportunistic TLS does).</summary>
    public Func<X509Certificate?, X509Chain?, System.Net.Security.SslPolicyErrors, bool>? ValidateCertificate { get; init; }
}

public sealed record SmtpCredentials(string UserName, string Password);

/// <summary>One reply: code and the full text (enhanced status code included when the server sent one).</summary>
public readonly record struct SmtpReply(int Code, string Text)
{
    public bool IsPositive => Code is >= 200 and < 400;
    public bool IsTransient => Code is >= 400 and < 500;
    public bool IsPermanent => Code >= 500;
}

/// <summary>
/// What to send. The body is written by <see cref="WriteBodyAsync"/> as raw message bytes (CRLF line ends, not
/// dot-stuffed): the client stuffs for DATA, or sends it as is with BDAT.
/// </summary>
public sealed record OutboundMessage(
    string Sender,
    IReadOnlyList<string> Recipients,
    long Size,
    bool EightBitMime,
    bool SmtpUtf8,
    Func<Stream, CancellationToken, ValueTask> WriteBodyAsync);

/// <summary>
/// Per-recipient outcome of one transaction: the reply that decided each recipient (MAIL's when MAIL failed,
/// RCPT's when RCPT failed, otherwise the reply to the end of data).
/// </summary>
public sealed record TransactionResult(IReadOnlyList<SmtpReply> RecipientReplies);

/// <summary>
/// The connection broke or the peer violated the protocol (as opposed to a 4xx/5xx command reply, which is a
/// result, not an exception). <see cref="Reply"/> is set when the failure was a reply (e.g. a 554 greeting).
/// </summary>
public sealed class OutboundProtocolException(string message, SmtpReply? reply = null, Exception? inner = null)
    : Exception(message, inner)
{
    public SmtpReply? Reply { get; } = reply;
}
