using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>
/// Pre-encoded constant SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034; registry codes
/// from RFC 5248). 3xx replies carry no enhanced code (RFC 2034 §4 only applies them to 2xx, 4xx and 5xx).
/// Replies that need the host name (220 greeting, EHLO) are built by the server.
/// </summary>
public static class SmtpReplies
{
    // 2xx
    public static ReadOnlySpan<byte> ServiceClosing => "221 2.0.0 Bye\r\n"u8;
    public static ReadOnlySpan<byte> Ok => "250 2.0.0 OK\r\n"u8;
    public static ReadOnlySpan<byte> SenderOk => "250 2.1.0 Sender OK\r\n"u8;
    public static ReadOnlySpan<byte> RecipientOk => "250 2.1.5 Recipient OK\r\n"u8;
    public static ReadOnlySpan<byte> MessageAccepted => "250 2.0.0 Message accepted for delivery\r\n"u8;
    public static ReadOnlySpan<byte> ReadyToStartTls => "220 2.0.0 Ready to start TLS\r\n"u8;
    public static ReadOnlySpan<byte> AuthSucceeded => "235 2.7.0 Authentication successful\r\n"u8;
    public static ReadOnlySpan<byte> CannotVerify => "252 2.1.5 Cannot VRFY user, but will accept message and attempt delivery\r\n"u8;
    /// <summary>RFC 3030 §4.2: a non-final BDAT chunk was received.</summary>
    public static ReadOnlySpan<byte> ChunkReceived => "250 2.0.0 Chunk received\r\n"u8;
    public static ReadOnlySpan<byte> Help => "214 2.0.0 See RFC 5321\r\n"u8;

    // 3xx
    public static ReadOnlySpan<byte> StartMailInput => "354 End data with <CR><LF>.<CR><LF>\r\n"u8;
    /// <summary>RFC 4616 §2: empty challenge asking for the PLAIN response.</summary>
    public static ReadOnlySpan<byte> AuthPlainChallenge => "334 \r\n"u8;
    /// <summary>AUTH LOGIN prompt: base64 of "Username:".</summary>
    public static ReadOnlySpan<byte> AuthLoginUsername => "334 VXNlcm5hbWU6\r\n"u8;
    /// <summary>AUTH LOGIN prompt: base64 of "Password:".</summary>
    public static ReadOnlySpan<byte> AuthLoginPassword => "334 UGFzc3dvcmQ6\r\n"u8;

    // 4xx
    public static ReadOnlySpan<byte> TooManyConnections => "421 4.7.0 Too many connections, try again later\r\n"u8;
    public static ReadOnlySpan<byte> IdleTimeout => "421 4.4.2 Idle timeout, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> TooManyErrors => "421 4.7.0 Too many errors, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> ShuttingDown => "421 4.3.2 Service shutting down, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> LocalError => "451 4.3.0 Local error in processing, try again later\r\n"u8;
    public static ReadOnlySpan<byte> InsufficientStorage => "452 4.3.1 Insufficient system storage\r\n"u8;
    public static ReadOnlySpan<byte> TooManyRecipients => "452 4.5.3 Too many recipients\r\n"u8;
    public static ReadOnlySpan<byte> TlsNotAvailable => "454 4.7.0 TLS not available\r\n"u8;

    // 5xx: commands
    public static ReadOnlySpan<byte> CommandUnrecognized => "500 5.5.2 Syntax error, command unrecognized\r\n"u8;
    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 Line too long\r\n"u8;
    public static ReadOnlySpan<byte> BareLineEndingInCommand => "500 5.5.2 Bare CR or LF not allowed\r\n"u8;
    public static ReadOnlySpan<byte> SyntaxErrorInArguments => "501 5.5.4 Syntax error in parameters or arguments\r\n"u8;
    public static ReadOnlySpan<byte> BadAddressSyntax => "501 5.1.3 Bad address syntax\r\n"u8;
    public static ReadOnlySpan<byte> BadBodyType => "501 5.5.4 BODY must be 7BIT or 8BITMIME\r\n"u8;
    public static ReadOnlySpan<byte> BadSize => "501 5.5.4 SIZE must be a number\r\n"u8;
    public static ReadOnlySpan<byte> CannotDecodeResponse => "501 5.5.2 Cannot decode response\r\n"u8;
    public static ReadOnlySpan<byte> AuthCancelled => "501 5.5.4 Authentication cancelled\r\n"u8;
    public static ReadOnlySpan<byte> ExpnNotImplemented => "502 5.5.1 EXPN not implemented\r\n"u8;
    public static ReadOnlySpan<byte> BadSequence => "503 5.5.1 Bad sequence of commands\r\n"u8;
    public static ReadOnlySpan<byte> HeloFirst => "503 5.5.1 Send HELO/EHLO first\r\n"u8;
    public static ReadOnlySpan<byte> NestedMail => "503 5.5.1 Sender already specified\r\n"u8;
    public static ReadOnlySpan<byte> AlreadyAuthenticated => "503 5.5.1 Already authenticated\r\n"u8;
    public static ReadOnlySpan<byte> UnrecognizedAuthMechanism => "504 5.5.4 Unrecognized authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> AuthRequired => "530 5.7.0 Authentication required\r\n"u8;
    public static ReadOnlySpan<byte> MustIssueStartTls => "530 5.7.0 Must issue a STARTTLS command first\r\n"u8;
    public static ReadOnlySpan<byte> AuthFailed => "535 5.7.8 Authentication credentials invalid\r\n"u8;
    public static ReadOnlySpan<byte> EncryptionRequiredForAuth => "538 5.7.11 Encryption required for requested authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> Utf8NotPermitted => "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n"u8;
    public static ReadOnlySpan<byte> NoSuchUser => "550 5.1.1 No such user here\r\n"u8;
    public static ReadOnlySpan<byte> MailboxFull => "452 4.2.2 Mailbox full\r\n"u8;
    public static ReadOnlySpan<byte> ExceedsMailboxQuota => "552 5.2.2 Message exceeds the mailbox quota\r\n"u8;
    public static ReadOnlySpan<byte> RelayAccessDenied => "554 5.7.1 Relay access denied\r\n"u8;
    public static ReadOnlySpan<byte> NoValidRecipients => "554 5.5.1 No valid recipients\r\n"u8;
    public static ReadOnlySpan<byte> UnknownParameter => "555 5.5.4 Unsupported MAIL or RCPT parameter\r\n"u8;

    // 5xx: message content
    public static ReadOnlySpan<byte> MessageTooBig => "552 5.3.4 Message size exceeds fixed maximum message size\r\n"u8;
    public static ReadOnlySpan<byte> BareLineEndingInData => "550 5.6.0 Message rejected: bare CR or LF in data\r\n"u8;
    public static ReadOnlySpan<byte> DataLineTooLong => "500 5.5.2 Message line too long\r\n"u8;

    /// <summary>The reply for a refused argument; <see cref="SmtpArgumentError.None"/> has no reply and throws.</summary>
    public static ReadOnlySpan<byte> ForArgumentError(SmtpArgumentError error) => error switch
    {
        SmtpArgumentError.Syntax => SyntaxErrorInArguments,
        SmtpArgumentError.BadAddress => BadAddressSyntax,
        SmtpArgumentError.UnknownParameter => UnknownParameter,
        SmtpArgumentError.Utf8NotPermitted => Utf8NotPermitted,
        SmtpArgumentError.BadBodyType => BadBodyType,
        SmtpArgumentError.BadSize => BadSize,
        _ => ThrowNoReply(error),
    };

    [DoesNotReturn]
    [StackTraceHidden]
    private static ReadOnlySpan<byte> ThrowNoReply(SmtpArgumentError error)
        => throw new ArgumentOutOfRangeException(nameof(error), error, "No reply for this argument error.");
}
