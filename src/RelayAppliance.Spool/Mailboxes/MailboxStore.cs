using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool.Mailboxes;

/// <summary>
/// One message in a mailbox: its id, its exact size in octets and <paramref name="Uid"/>, the id as printed (the POP3
/// UID, unique forever), formatted once at delivery or recovery rather than at every login.
/// </summary>
public readonly record struct MailboxMessage(MessageId Id, long Size, string Uid);

/// <summary>
/// The local users' mailboxes, durable on a FASTER spool of their own (DATA/mailboxes): each mailbox message is a
/// one-recipient message of that spool, the recipient being the mailbox. So mailboxes get the queue's guarantees
/// for free — durable before delivery is journaled, recovery, reclamation with copy-forward (ids survive it), batch
/// deletes with one commit — and keep no state of their own on disk. The envelope's HELO field holds the origin
/// ("queueid/recipient") so a delivery repeated after a crash is recognised and not stored twice.
/// </summary>
public sealed class MailboxStore : IAsyncDisposable
{
    private readonly MessageSpool _spool;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Box> _boxes = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<(ulong Queue, int Recipient), ulong> _origins = [];
    private readonly Dictionary<ulong, (ulong Queue, int Recipient)> _originOf = [];

    private MailboxStore(MessageSpool spool)
    {
        _spool = spool;
        foreach (var message in spool.List())
            Add(message.Recipients[0].Address, message.Id.Value, message.Size, ParseOrigin(message.Helo));
    }

    public static MailboxStore Open(SpoolOptions options, ILoggerFactory loggerFactory, TimeProvider time)
        => new(MessageSpool.Open(options, loggerFactory, time));

    public SpoolHealth Health => _spool.Health;

    /// <summary>The mailbox's messages in arrival order (a snapshot: POP3 numbers are positions in it).</summary>
    public IReadOnlyList<MailboxMessage> List(string mailbox)
    {
        lock (_gate)
        {
            if (!_boxes.TryGetValue(mailbox, out var box))
                return [];
            return box.Messages.ToArray(); // a snapshot: a login copies an array, nothing more
        }
    }

    /// <summary>Octets stored in the mailbox (what its quota is checked against).</summary>
    public long UsedBytes(string mailbox)
    {
        // Kept as a running total: RCPT and every local delivery ask (summing a big mailbox made filling it O(n²)).
        lock (_gate)
            return _boxes.TryGetValue(mailbox, out var box) ? box.Bytes : 0;
    }

    /// <summary>
    /// Stores a copy of a queued message in <paramref name="mailbox"/>, durably, with Return-Path and Delivered-To
    /// header fields in front (RFC 5321 §4.4). Idempotent per (<paramref name="origin"/>, <paramref name="recipientIndex"/>):
    /// a repeat returns the id stored the first time.
    /// </summary>
    /// <param name="copyBody">Writes the original message to the stream it is given.</param>
    /// <exception cref="SpoolUnavailableException">The mailbox spool cannot take it now (disk floor, failure).</exception>
    public async ValueTask<MessageId> DeliverAsync(string mailbox, string sender, MessageId origin, int recipientIndex,
        Func<Stream, CancellationToken, ValueTask> copyBody, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(copyBody);
        lock (_gate)
        {
            if (_origins.TryGetValue((origin.Value, recipientIndex), out var existing))
                return new MessageId(existing);
        }
        var body = _spool.CreateBodyWriter();
        try
        {
            await using var stream = new BodyWriterStream(body);
            var trace = Encoding.UTF8.GetBytes($"Return-Path: <{sender}>\r\nDelivered-To: {mailbox}\r\n");
            await stream.WriteAsync(trace, cancellationToken).ConfigureAwait(false);
            await copyBody(stream, cancellationToken).ConfigureAwait(false);
            var envelope = new EnvelopeBuilder();
            envelope.SetSession("local", FormatOrigin(origin, recipientIndex), null, tls: false);
            envelope.SetSender(Encoding.UTF8.GetBytes(sender), smtpUtf8: !Ascii.IsValid(sender), eightBitMime: true);
            envelope.AddRecipient(Encoding.UTF8.GetBytes(mailbox), RecipientRoute.Local);
            var size = body.Length;
            var id = await _spool.AcceptAsync(body, envelope, cancellationToken).ConfigureAwait(false);
            Add(mailbox, id.Value, size, (origin.Value, recipientIndex));
            return id;
        }
        finally
        {
            body.Reset(); // a no-op after AcceptAsync; releases the pin when the copy failed
        }
    }

    /// <summary>Writes the stored message (exactly <see cref="MailboxMessage.Size"/> octets).</summary>
    /// <exception cref="KeyNotFoundException">It was deleted.</exception>
    public ValueTask CopyToAsync(MessageId id, Stream destination, CancellationToken cancellationToken)
        => _spool.CopyBodyToAsync(id, destination, cancellationToken);

    /// <summary>
    /// Deletes messages of <paramref name="mailbox"/> with one durable commit; ids of other mailboxes or already
    /// gone are skipped. Returns how many were deleted.
    /// </summary>
    public async ValueTask<int> DeleteAsync(string mailbox, IReadOnlyList<MessageId> ids, CancellationToken cancellationToken)
    {
        var owned = new List<MessageId>(ids.Count);
        lock (_gate)
        {
            if (_boxes.TryGetValue(mailbox, out var box))
            {
                foreach (var id in ids)
                {
                    if (box.IndexOf(id.Value) >= 0)
                        owned.Add(id);
                }
            }
        }
        var deleted = await _spool.DeleteManyAsync(owned, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_boxes.TryGetValue(mailbox, out var box))
            {
                var gone = new HashSet<ulong>(owned.Count);
                foreach (var id in owned)
                {
                    gone.Add(id.Value);
                    if (_originOf.Remove(id.Value, out var origin))
                        _origins.Remove(origin);
                }
                box.Remove(gone);
            }
        }
        return deleted;
    }

    public ValueTask DisposeAsync() => _spool.DisposeAsync();

    private void Add(string mailbox, ulong id, long size, (ulong, int)? origin)
    {
        lock (_gate)
        {
            if (!_boxes.TryGetValue(mailbox, out var box))
                _boxes[mailbox] = box = new Box();
            box.Add(new MailboxMessage(new MessageId(id), size, new MessageId(id).ToString()));
            if (origin is { } key)
            {
                _origins[key] = id;
                _originOf[id] = key;
            }
        }
    }

    /// <summary>One mailbox: its messages in id (= arrival) order and their total size.</summary>
    private sealed class Box
    {
        public List<MailboxMessage> Messages { get; } = [];
        public long Bytes { get; set; }

        /// <summary>Ids grow, so this appends, except when concurrent deliveries commit out of order.</summary>
        public void Add(MailboxMessage message)
        {
            var at = IndexOf(message.Id.Value);
            if (at >= 0)
                return;
            Messages.Insert(~at, message);
            Bytes += message.Size;
        }

        /// <summary>One pass for the whole batch (a QUIT after many DELEs), not one shift per message.</summary>
        public void Remove(HashSet<ulong> ids)
        {
            var kept = 0;
            for (var i = 0; i < Messages.Count; i++)
            {
                var message = Messages[i];
                if (ids.Contains(message.Id.Value))
                    Bytes -= message.Size;
                else
                    Messages[kept++] = message;
            }
            Messages.RemoveRange(kept, Messages.Count - kept);
        }

        /// <summary>Binary search by id: the index, or the complement of where it would go.</summary>
        public int IndexOf(ulong id)
        {
            int low = 0, high = Messages.Count - 1;
            while (low <= high)
            {
                var mid = (low + high) >>> 1;
                var current = Messages[mid].Id.Value;
                if (current == id)
                    return mid;
                if (current < id)
                    low = mid + 1;
                else
                    high = mid - 1;
            }
            return ~low;
        }
    }

    private static string FormatOrigin(MessageId origin, int recipientIndex)
        => string.Create(CultureInfo.InvariantCulture, $"{origin}/{recipientIndex}");

    private static (ulong, int)? ParseOrigin(string helo)
    {
        var slash = helo.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 && MessageId.TryParse(helo[..slash], out var id)
            && int.TryParse(helo.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            ? (id.Value, index) : null;
    }
}
