using System.Text;
using RelayAppliance.Delivery.Bounces;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Scheduling;

public sealed partial class DeliveryService
{
    /// <summary>
    /// Queues a DSN for the failed recipients to the original sender, from the null sender so it can never bounce
    /// in turn. No report for a message that was itself a bounce (sender &lt;&gt;). Throws when the spool cannot take
    /// it, so the failures are not journaled without their bounce.
    /// </summary>
    private async Task BounceAsync(QueuedMessageInfo message, List<RecipientResult> failed, CancellationToken token)
    {
        if (!DeliveryStatusNotification.ShouldReport(message.Sender))
        {
            return;
        }
        using var original = new MemoryStream();
        await _spool.CopyBodyToAsync(message.Id, original, token).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var report = DeliveryStatusNotification.Compose(new DsnRequest(
            _options.Hostname,
            message.Sender,
            message.ReceivedAt,
            failed.Select(f => new DsnRecipient(message.Recipients[f.RecipientIndex].Address, DsnAction.Failed, f.Detail, f.RemoteHost)).ToList(),
            DeliveryStatusNotification.HeaderSection(original.GetBuffer().AsMemory(0, (int)original.Length)),
            now,
            $"{message.Id}.{now.ToUnixTimeMilliseconds()}.dsn"));

        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", _options.Hostname, null, tls: false);
        envelope.SetSender(default, smtpUtf8: !Ascii.IsValid(message.Sender), eightBitMime: true);
        var local = _options.LocalDomains.Contains(DomainOf(message.Sender), StringComparer.OrdinalIgnoreCase);
        envelope.AddRecipient(Encoding.UTF8.GetBytes(message.Sender), local ? RecipientRoute.Local : RecipientRoute.Remote);
        var body = _spool.CreateBodyWriter();
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
        var id = await _spool.AcceptAsync(body, envelope, CancellationToken.None).ConfigureAwait(false);
        LogBounced(_logger, message.Id.ToString(), id.ToString(), message.Sender);
    }
}
