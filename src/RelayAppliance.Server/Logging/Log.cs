using System.Net;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Server.Logging;

/// <summary>Server log events; ids are stable so operators can alert on them. Secrets are never logged.</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "SMTP listening on {EndPoint} (implicit TLS: {ImplicitTls})")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, bool implicitTls);

    [LoggerMessage(1001, LogLevel.Warning, "Refused connection from {Client}: {Reason}")]
    public static partial void ConnectionRefused(ILogger logger, IPAddress client, string reason);

    /// <summary>Queue id first, as Postfix's qmgr logs an accepted message.</summary>
    [LoggerMessage(1002, LogLevel.Information, "{MessageId}: from=<{Sender}>, size={Size}, nrcpt={Recipients}, client={Client}")]
    public static partial void MessageQueued(ILogger logger, RelayAppliance.Spool.MessageId messageId, string sender, long size, int recipients, string client);

    [LoggerMessage(1003, LogLevel.Warning, "Session {Client}: discarded {Bytes} bytes pipelined after STARTTLS (injection attempt)")]
    public static partial void StartTlsInjection(ILogger logger, string client, long bytes);

    [LoggerMessage(1004, LogLevel.Warning, "Session {Client}: TLS handshake failed: {Error}")]
    public static partial void TlsFailed(ILogger logger, string client, string error);

    [LoggerMessage(1005, LogLevel.Warning, "Session {Client}: authentication failed for {User}")]
    public static partial void AuthFailed(ILogger logger, string client, string user);

    [LoggerMessage(1006, LogLevel.Information, "Session {Client}: authenticated as {User}")]
    public static partial void AuthSucceeded(ILogger logger, string client, string user);

    [LoggerMessage(1007, LogLevel.Error, "Spool refused message from {Client}")]
    public static partial void SpoolFailed(ILogger logger, string client, Exception exception);

    [LoggerMessage(1008, LogLevel.Warning, "Session {Client}: relay denied for recipient domain")]
    public static partial void RelayDenied(ILogger logger, string client);

    [LoggerMessage(1009, LogLevel.Debug, "Session {Client} ended: {Error}")]
    public static partial void SessionEnded(ILogger logger, string client, string error);

    [LoggerMessage(1010, LogLevel.Error, "Session {Client} failed")]
    public static partial void SessionFailed(ILogger logger, string client, Exception exception);

    [LoggerMessage(1011, LogLevel.Information, "SMTP stopping: {Sessions} sessions open")]
    public static partial void Stopping(ILogger logger, int sessions);
}
