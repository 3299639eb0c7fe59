using System.Text;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Bounces;

/// <summary>
/// Queues bounces. Used by the scheduler for permanent failures and by `relayd queue bounce`; in both the DSN is
/// accepted into the spool before the failures are journaled, so a crash can repeat a bounce but never lose one.
/// </summary>
public static class BounceQueue
{
    /// <summary>
    /// Queues a DSN for the failed (or, with <see cref="DsnAction.Delayed"/>, still deferred) recipients to the
    /// original sender, from the null sender so it can never bounce in turn. Returns null (and queues nothing) for a
    /// message that was itself a bounce (sender &lt;&gt;). Throws when the spool cannot take it, so the caller does not
    /// journal the failures without their bounce.
    /// </summary>
    /// <param name="retryUntil">For a delay notification: when we give up (RFC 3464 Will-Retry-Until).</param>
    public static async Task<MessageId?> QueueAsync(MessageSpool spool, string hostname, IReadOnlyCollection<string> localDomains,
        QueuedMessageInfo message, IReadOnlyList<RecipientResult> failed, DateTimeOffset now, CancellationToken token,
        DsnAction action = DsnAction.Failed, DateTimeOffset? retryUntil = null)
    {
        if (!DeliveryStatusNotification.ShouldReport(message.Sender))
        {
            return null;
        }
        using var original = new MemoryStream();
        await spool.CopyBodyToAsync(message.Id, original, token).ConfigureAwait(false);
        var report = DeliveryStatusNotification.Compose(new DsnRequest(
            hostname,
            message.Sender,
            message.ReceivedAt,
            failed.Select(f => new DsnRecipient(message.Recipients[f.RecipientIndex].Address, action, f.Detail, f.RemoteHost)
            {
                WillRetryUntil = retryUntil,
            }).ToList(),
            DeliveryStatusNotification.HeaderSection(original.GetBuffer().AsMemory(0, (int)original.Length)),
            now,
            $"{message.Id}.{now.ToUnixTimeMilliseconds()}.dsn"));

        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", hostname, null, tls: false);
        envelope.SetSender(default, smtpUtf8: !Ascii.IsValid(message.Sender), eightBitMime: true);
        var local = localDomains.Contains(Scheduling.DeliveryService.DomainOf(message.Sender), StringComparer.OrdinalIgnoreCase);
        envelope.AddRecipient(Encoding.UTF8.GetBytes(message.Sender), local ? RecipientRoute.Local : RecipientRoute.Remote);
        var body = spool.CreateBodyWriter();
        var written = 0;
        while (written < report.Length)
        {
            var span = body.GetSpan();
            var n = Math.Min(span.Length, report.Length - written);
            report.AsSpan(written, n).CopyTo(span);
            body.Advance(n);
            written += n;
            if (body.IsFull)
            {
                await body.FlushChunkAsync(token).ConfigureAwait(false);
            }
        }
        return await spool.AcceptAsync(body, envelope, CancellationToken.None).ConfigureAwait(false);
    }
}
