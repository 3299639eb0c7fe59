using System.Net;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Server.Logging;

/// <summary>POP3 log events (ids 1100–1199, beside SMTP's 1000–1099); stable ids. Passwords are never logged.</summary>
internal static partial class Pop3Log
{
    [LoggerMessage(1100, LogLevel.Information, "POP3 listening on {EndPoint} (implicit TLS: {ImplicitTls})")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, bool implicitTls);

    [LoggerMessage(1101, LogLevel.Warning, "POP3 refused connection from {Client}: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, IPAddress client, string reason);

    [LoggerMessage(1102, LogLevel.Warning, "POP3 session {Client}: discarded {Bytes} bytes pipelined after STLS (injection attempt)")]
    public static partial void StlsInjection(ILogger logger, string client, long bytes);

    [LoggerMessage(1103, LogLevel.Warning, "POP3 session {Client}: TLS handshake failed: {Error}")]
    public static partial void TlsFailed(ILogger logger, string client, string error);

    [LoggerMessage(1104, LogLevel.Warning, "POP3 session {Client}: login failed for {User}")]
    public static partial void LoginFailed(ILogger logger, string client, string user);

    [LoggerMessage(1105, LogLevel.Warning, "POP3 session {Client}: login refused, too many failures from this address")]
    public static partial void LoginThrottled(ILogger logger, string client);

    [LoggerMessage(1106, LogLevel.Information, "POP3 session {Client}: {User} logged in, {Messages} messages")]
    public static partial void LoggedIn(ILogger logger, string client, string user, int messages);

    [LoggerMessage(1107, LogLevel.Information, "POP3 session {Client}: maildrop of {User} is in use")]
    public static partial void MaildropInUse(ILogger logger, string client, string user);

    [LoggerMessage(1108, LogLevel.Error, "POP3 session {Client}: cannot open the maildrop of {User}")]
    public static partial void MaildropOpenFailed(ILogger logger, string client, string user, Exception exception);

    [LoggerMessage(1109, LogLevel.Information, "POP3 session {Client}: {User} deleted {Count} messages")]
    public static partial void Deleted(ILogger logger, string client, string user, int count);

    [LoggerMessage(1110, LogLevel.Error, "POP3 session {Client}: committing {Count} deletions for {User} failed")]
    public static partial void CommitFailed(ILogger logger, string client, string user, int count, Exception exception);

    [LoggerMessage(1111, LogLevel.Error, "POP3 session {Client}: reading message {Number} of {User} failed")]
    public static partial void ReadFailed(ILogger logger, string client, string user, int number, Exception exception);

    [LoggerMessage(1112, LogLevel.Debug, "POP3 session {Client} ended: {Error}")]
    public static partial void SessionEnded(ILogger logger, string client, string error);

    [LoggerMessage(1113, LogLevel.Error, "POP3 session {Client} failed")]
    public static partial void SessionFailed(ILogger logger, string client, Exception exception);

    [LoggerMessage(1114, LogLevel.Information, "POP3 stopping: {Sessions} sessions open")]
    public static partial void Stopping(ILogger logger, int sessions);
}
