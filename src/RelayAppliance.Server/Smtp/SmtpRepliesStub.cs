// TEMPORARY until the protocol branch lands its SmtpReplies; delete at merge.
namespace RelayAppliance.Protocol.Smtp;

internal static class SmtpReplies
{
    public static ReadOnlySpan<byte> AuthCancelled => "501 5.0.0 Authentication cancelled\r\n"u8;
    public static ReadOnlySpan<byte> AuthFailed => "535 5.7.8 Authentication credentials invalid\r\n"u8;
    public static ReadOnlySpan<byte> AuthPasswordPrompt => "334 UGFzc3dvcmQ6\r\n"u8;
    public static ReadOnlySpan<byte> AuthPlainPrompt => "334 \r\n"u8;
    public static ReadOnlySpan<byte> AuthSucceeded => "235 2.7.0 Authentication successful\r\n"u8;
    public static ReadOnlySpan<byte> AuthUsernamePrompt => "334 VXNlcm5hbWU6\r\n"u8;
    public static ReadOnlySpan<byte> BadSequence => "503 5.5.1 Bad sequence of commands\r\n"u8;
    public static ReadOnlySpan<byte> BareLineEnding => "500 5.5.2 Bare CR or LF not allowed\r\n"u8;
    public static ReadOnlySpan<byte> BareLineEndingInData => "550 5.6.0 Message refused: bare CR or LF in data\r\n"u8;
    public static ReadOnlySpan<byte> CannotDecodeResponse => "501 5.5.2 Cannot decode response\r\n"u8;
    public static ReadOnlySpan<byte> CannotVerify => "252 2.1.5 Cannot VRFY user, but will accept message\r\n"u8;
    public static ReadOnlySpan<byte> ChunkOk => "250 2.0.0 Chunk received\r\n"u8;
    public static ReadOnlySpan<byte> EncryptionRequired => "538 5.7.11 Encryption required for requested authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> ExpnNotImplemented => "502 5.5.1 EXPN not implemented\r\n"u8;
    public static ReadOnlySpan<byte> HeloFirst => "503 5.5.1 Send HELO/EHLO first\r\n"u8;
    public static ReadOnlySpan<byte> Help => "214 2.0.0 See RFC 5321\r\n"u8;
    public static ReadOnlySpan<byte> IdleTimeout => "421 4.4.2 Idle timeout, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> InsufficientStorage => "452 4.3.1 Insufficient system storage\r\n"u8;
    public static ReadOnlySpan<byte> LineTooLong => "500 5.5.2 Line too long\r\n"u8;
    public static ReadOnlySpan<byte> LocalError => "451 4.3.0 Local error in processing, try again later\r\n"u8;
    public static ReadOnlySpan<byte> MessageLineTooLong => "500 5.5.2 Message refused: line too long\r\n"u8;
    public static ReadOnlySpan<byte> MessageTooBig => "552 5.3.4 Message size exceeds fixed limit\r\n"u8;
    public static ReadOnlySpan<byte> NestedMail => "503 5.5.1 Nested MAIL command\r\n"u8;
    public static ReadOnlySpan<byte> NoValidRecipients => "554 5.5.1 No valid recipients\r\n"u8;
    public static ReadOnlySpan<byte> Ok => "250 2.0.0 OK\r\n"u8;
    public static ReadOnlySpan<byte> ReadyToStartTls => "220 2.0.0 Ready to start TLS\r\n"u8;
    public static ReadOnlySpan<byte> RecipientOk => "250 2.1.5 Recipient OK\r\n"u8;
    public static ReadOnlySpan<byte> RelayDenied => "554 5.7.1 Relay access denied\r\n"u8;
    public static ReadOnlySpan<byte> SenderOk => "250 2.1.0 Sender OK\r\n"u8;
    public static ReadOnlySpan<byte> StartMailInput => "354 End data with <CR><LF>.<CR><LF>\r\n"u8;
    public static ReadOnlySpan<byte> SyntaxErrorInArguments => "501 5.5.4 Syntax error in parameters or arguments\r\n"u8;
    public static ReadOnlySpan<byte> TlsNotAvailable => "454 4.7.0 TLS not available\r\n"u8;
    public static ReadOnlySpan<byte> TooManyConnections => "421 4.7.0 Too many connections, try again later\r\n"u8;
    public static ReadOnlySpan<byte> TooManyErrors => "421 4.7.0 Too many errors, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> TooManyRecipients => "452 4.5.3 Too many recipients\r\n"u8;
    public static ReadOnlySpan<byte> UnknownCommand => "500 5.5.2 Command unrecognized\r\n"u8;
    public static ReadOnlySpan<byte> UnrecognizedAuthMechanism => "504 5.5.4 Unrecognized authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> ForArgumentError(SmtpArgumentError error) => error switch
    {
        SmtpArgumentError.BadAddress => "501 5.1.3 Bad address syntax\r\n"u8,
        SmtpArgumentError.UnknownParameter => "555 5.5.4 Unsupported parameter\r\n"u8,
        SmtpArgumentError.Utf8NotPermitted => "553 5.6.7 UTF-8 address requires SMTPUTF8\r\n"u8,
        _ => SyntaxErrorInArguments,
    };
}
