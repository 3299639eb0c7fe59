using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Spool.Mailboxes;

/// <summary>One message in a mailbox: its id (the POP3 UID, unique forever) and its exact size in octets.</summary>
public readonly record struct MailboxMessage(MessageId Id, long Size);

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
            var list = new List<MailboxMessage>(box.Messages.Count);
            foreach (var (id, size) in box.Messages)
                list.Add(new MailboxMessage(new MessageId(id), size));
            return list;
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
                    if (box.Messages.ContainsKey(id.Value))
                        owned.Add(id);
                }
            }
        }
        var deleted = await _spool.DeleteManyAsync(owned, cancellationToken).ConfigureAwait(false);
        lock (_gate)
        {
            if (_boxes.TryGetValue(mailbox, out var box))
            {
                foreach (var id in owned)
                {
                    if (box.Messages.Remove(id.Value, out var size))
                        box.Bytes -= size;
                    if (_originOf.Remove(id.Value, out var origin))
                        _origins.Remove(origin);
                }
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
            if (box.Messages.TryAdd(id, size))
                box.Bytes += size;
            if (origin is { } key)
            {
                _origins[key] = id;
                _originOf[id] = key;
            }
        }
    }

    /// <summary>One mailbox: its messages by id (arrival order) and their total size.</summary>
    private sealed class Box
    {
        public SortedDictionary<ulong, long> Messages { get; } = [];
        public long Bytes { get; set; }
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
