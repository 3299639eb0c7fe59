using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Delivery.Local;

/// <summary>
/// Delivers queued recipients of local domains into their mailboxes. The scheduler calls it like a remote
/// destination, so retries, bounces, hold and the queue lifetime work the same for local mail.
/// </summary>
/// <param name="resolveMailbox">Recipient address → mailbox (aliases, catch-all, postmaster applied); null: no such user.</param>
/// <param name="quotaBytes">Per mailbox, read at each delivery (it changes on reload); 0: unlimited.</param>
public sealed class LocalDelivery(MailboxStore store, Func<string, string?> resolveMailbox, Func<long> quotaBytes)
{
    public LocalDelivery(MailboxStore store, Func<string, string?> resolveMailbox, long quotaBytes)
        : this(store, resolveMailbox, () => quotaBytes)
    {
    }

    public MailboxStore Store => store;

    /// <summary>One result per recipient in <paramref name="recipients"/> (indexes into the message's recipients).</summary>
    public async Task<List<RecipientResult>> DeliverAsync(MessageSpool queue, QueuedMessageInfo message, IReadOnlyList<int> recipients,
        CancellationToken token)
    {
        var results = new List<RecipientResult>(recipients.Count);
        // Two recipients that end in one mailbox (an alias and its user) get one copy, as Postfix's local does.
        var byMailbox = new Dictionary<string, RecipientResult>(StringComparer.OrdinalIgnoreCase);
        foreach (var index in recipients)
        {
            var address = message.Recipients[index].Address;
            if (resolveMailbox(address) is not { } mailbox)
            {
                results.Add(new RecipientResult(index, RecipientOutcome.Failed, $"550 5.1.1 <{address}>: no such mailbox here", null));
                continue;
            }
            if (!byMailbox.TryGetValue(mailbox, out var result))
            {
                byMailbox[mailbox] = result = await DeliverOneAsync(queue, message, index, mailbox, token).ConfigureAwait(false);
            }
            results.Add(result with { RecipientIndex = index });
        }
        return results;
    }

    private async Task<RecipientResult> DeliverOneAsync(MessageSpool queue, QueuedMessageInfo message, int index, string mailbox,
        CancellationToken token)
    {
        var quota = quotaBytes();
        if (quota > 0)
        {
            if (message.Size > quota)
            {
                return new RecipientResult(index, RecipientOutcome.Failed, $"552 5.2.2 Message larger than the quota of mailbox {mailbox}", null);
            }
            if (store.UsedBytes(mailbox) + message.Size > quota)
            {
                return new RecipientResult(index, RecipientOutcome.Deferred, $"452 4.2.2 Mailbox {mailbox} is full", null);
            }
        }
        try
        {
            var id = await store.DeliverAsync(mailbox, message.Sender, message.Id, index,
                (stream, ct) => queue.CopyBodyToAsync(message.Id, stream, ct), token).ConfigureAwait(false);
            return new RecipientResult(index, RecipientOutcome.Delivered, $"250 2.0.0 Delivered to mailbox {mailbox} as {id}", null);
        }
        catch (SpoolUnavailableException e)
        {
            return new RecipientResult(index, RecipientOutcome.Deferred, $"451 4.3.0 Mailbox store unavailable: {e.Message}", null);
        }
    }
}
