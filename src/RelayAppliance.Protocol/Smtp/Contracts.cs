// API CONTRACT: the value types below are what RelayAppliance.Server codes against; keep the signatures.
// The implementations live in SmtpLineReader.cs, SmtpCommandParser*.cs, DotUnstuffer.cs and SmtpReplies.cs.

namespace RelayAppliance.Protocol.Smtp;

/// <summary>Outcome of looking for one CRLF-terminated line.</summary>
public enum LineStatus : byte
{
    /// <summary>A line ending in CRLF was read; the reader is past the CRLF.</summary>
    Complete,
    /// <summary>No line end yet and still within the limit; nothing consumed.</summary>
    Incomplete,
    /// <summary>
    /// More than maxLength bytes without a line end. If the LF was found the reader is past it; otherwise the
    /// reader consumed everything and the caller must skip to the next LF with <see cref="SmtpLineReader.TrySkipToLineEnd"/>.
    /// </summary>
    TooLong,
    /// <summary>The line ended with LF not preceded by CR; the reader is past the LF.</summary>
    BareLineFeed,
    /// <summary>The line holds a CR not followed by LF; the reader is past the line's LF.</summary>
    BareCarriageReturn,
}

/// <summary>Why a command's arguments were refused; mapped to one reply in the server.</summary>
public enum SmtpArgumentError : byte
{
    None = 0,
    /// <summary>501 5.5.4 syntax error in parameters or arguments.</summary>
    Syntax,
    /// <summary>501 5.1.3 bad address syntax (mailbox, path).</summary>
    BadAddress,
    /// <summary>555 5.5.4 unrecognised MAIL/RCPT parameter.</summary>
    UnknownParameter,
    /// <summary>553 5.6.7 non-ASCII address without SMTPUTF8.</summary>
    Utf8NotPermitted,
    /// <summary>501 5.5.4 BODY= value is not 7BIT or 8BITMIME.</summary>
    BadBodyType,
    /// <summary>501 5.5.4 SIZE= value is not a number.</summary>
    BadSize,
}

public enum BodyType : byte { Unspecified = 0, SevenBit, EightBitMime }

/// <summary>MAIL FROM arguments as ranges into the argument span (RFC 5321 §4.1.1.2, RFC 1870, RFC 6152, RFC 6531).</summary>
public readonly struct MailFromCommand
{
    /// <summary>Address inside the angle brackets, without source route; empty for the null path &lt;&gt;.</summary>
    public Range Address { get; init; }
    public bool IsNullPath { get; init; }
    /// <summary>SIZE= value, or -1 when absent.</summary>
    public long DeclaredSize { get; init; }
    public BodyType Body { get; init; }
    public bool SmtpUtf8 { get; init; }
    /// <summary>Local part as written (quotes kept); empty for the null path.</summary>
    public Range LocalPart { get; init; }
    /// <summary>Domain or address literal (brackets kept); empty for the null path.</summary>
    public Range Domain { get; init; }
    /// <summary>The local part was a quoted string.</summary>
    public bool LocalPartQuoted { get; init; }
    /// <summary>The path had an obsolete source route (@a,@b:) which was dropped.</summary>
    public bool HadSourceRoute { get; init; }
}

/// <summary>RCPT TO arguments as ranges into the argument span (RFC 5321 §4.1.1.3).</summary>
public readonly struct RcptToCommand
{
    /// <summary>The mailbox (local@domain) after any source route was dropped; or "Postmaster".</summary>
    public Range Address { get; init; }
    /// <summary>Local part as written (quotes kept).</summary>
    public Range LocalPart { get; init; }
    /// <summary>Domain (or address literal); empty for bare "&lt;Postmaster&gt;".</summary>
    public Range Domain { get; init; }
    /// <summary>The local part was a quoted string.</summary>
    public bool LocalPartQuoted { get; init; }
    /// <summary>The path had an obsolete source route (@a,@b:) which was dropped.</summary>
    public bool HadSourceRoute { get; init; }
}

public enum AuthMechanism : byte { Unknown = 0, Plain, Login }

public enum DataStatus : byte
{
    /// <summary>All input consumed; the terminator has not been seen.</summary>
    NeedMoreInput,
    /// <summary>Output span is full; call again with the rest of the input.</summary>
    OutputFull,
    /// <summary>&lt;CRLF&gt;.&lt;CRLF&gt; seen; consumed ends just past it.</summary>
    EndOfData,
}
