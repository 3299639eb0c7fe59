// API CONTRACT: the value types below are what RelayAppliance.Server's POP3 session codes against; keep the signatures.
// The implementations live in Pop3CommandParser.cs, Pop3Replies.cs and Pop3MessageEncoder.cs.

namespace RelayAppliance.Protocol.Pop3;

/// <summary>POP3 command keywords (RFC 1939 §4–§7, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH). APOP is not offered.</summary>
public enum Pop3Verb : byte
{
    Unknown = 0,
    User,
    Pass,
    Stat,
    List,
    Retr,
    Dele,
    Noop,
    Rset,
    Quit,
    Top,
    Uidl,
    Capa,
    Stls,
    Auth,
}

/// <summary>Why a command line was refused; mapped to one reply in <see cref="Pop3Replies.ForCommandError"/>.</summary>
public enum Pop3CommandError : byte
{
    None = 0,
    /// <summary>Not a keyword we know, or the keyword is not followed by SP or the end of the line.</summary>
    UnknownCommand,
    /// <summary>Missing, extra or malformed arguments.</summary>
    Syntax,
    /// <summary>A message number that is syntactically a number but 0 or too large for any maildrop (RFC 1939 §5: msg ≥ 1).</summary>
    NoSuchMessage,
}

/// <summary>SASL mechanism named by AUTH (RFC 5034 §4); only PLAIN (RFC 4616) is offered.</summary>
public enum SaslMechanism : byte
{
    /// <summary>AUTH without an argument: list the mechanisms (as Dovecot and older clients expect).</summary>
    None = 0,
    Plain,
    /// <summary>A well-formed mechanism name we do not offer.</summary>
    Unsupported,
}

/// <summary>One parsed command line; ranges index into the line that was parsed.</summary>
public readonly struct Pop3Command
{
    public Pop3Verb Verb { get; init; }

    /// <summary>The message number (≥ 1) of LIST n, UIDL n, RETR, DELE and TOP; 0 when LIST/UIDL has no argument.</summary>
    public int MessageNumber { get; init; }

    /// <summary>TOP's second argument: the number of body lines (≥ 0).</summary>
    public int Lines { get; init; }

    /// <summary>USER's name, PASS's password (the rest of the line, spaces included: RFC 1939 §7), AUTH's initial response.</summary>
    public Range Argument { get; init; }

    /// <summary>AUTH's mechanism.</summary>
    public SaslMechanism Mechanism { get; init; }

    /// <summary>AUTH carried an initial response (RFC 5034 §4); "=" stands for an empty one and yields an empty <see cref="Argument"/>.</summary>
    public bool HasInitialResponse { get; init; }
}

/// <summary>A client line in the middle of an AUTH exchange (RFC 5034 §4).</summary>
public enum SaslResponseKind : byte
{
    /// <summary>Base64 text (possibly empty) to decode.</summary>
    Response,
    /// <summary>"*": the client cancels; the server must answer -ERR.</summary>
    Cancel,
    /// <summary>Not base64.</summary>
    Invalid,
}
