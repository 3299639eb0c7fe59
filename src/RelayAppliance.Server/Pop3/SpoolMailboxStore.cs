using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// The POP3 maildrops over the durable <see cref="MailboxStore"/>. The exclusive lock of RFC 1939 §8 is kept in
/// memory: relayd is the only process that opens the mailbox spool (its file lock sees to that).
/// </summary>
public sealed class SpoolMailboxStore(MailboxStore store) : IMailboxStore
{
    private readonly MailboxStore _store = store;
    private readonly HashSet<string> _open = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _gate = new();

    public ValueTask<IMaildrop?> TryOpenAsync(string user, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (!_open.Add(user))
            {
                return ValueTask.FromResult<IMaildrop?>(null);
            }
        }
        return ValueTask.FromResult<IMaildrop?>(new Maildrop(this, user, _store.List(user)));
    }

    private void Release(string user)
    {
        lock (_gate)
        {
            _open.Remove(user);
        }
    }

    private sealed class Maildrop : IMaildrop
    {
        private readonly SpoolMailboxStore _owner;
        private readonly string _user;
        private readonly IReadOnlyList<MailboxMessage> _messages;
        private int _disposed;

        public Maildrop(SpoolMailboxStore owner, string user, IReadOnlyList<MailboxMessage> messages)
        {
            _owner = owner;
            _user = user;
            _messages = messages;
            // The spool's message id is the UID: unique forever, and kept by compaction and copy-forward.
            var entries = new MaildropEntry[messages.Count];
            for (var i = 0; i < entries.Length; i++)
            {
                entries[i] = new MaildropEntry(messages[i].Uid, messages[i].Size);
            }
            Messages = entries;
        }

        public IReadOnlyList<MaildropEntry> Messages { get; }

        public ValueTask<Stream> OpenMessageAsync(int index, CancellationToken cancellationToken)
        {
            var id = _messages[index].Id;
            return ValueTask.FromResult(MaildropStreams.FromCopy((stream, ct) => _owner._store.CopyToAsync(id, stream, ct), cancellationToken));
        }

        public async ValueTask CommitDeletionsAsync(IReadOnlyList<int> indexes, CancellationToken cancellationToken)
        {
            var ids = new List<Spool.MessageId>(indexes.Count);
            foreach (var index in indexes)
            {
                ids.Add(_messages[index].Id);
            }
            // One journal commit for all of them, durable before the session answers +OK.
            await _owner._store.DeleteAsync(_user, ids, cancellationToken).ConfigureAwait(false);
        }

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                _owner.Release(_user);
            }
            return ValueTask.CompletedTask;
        }
    }

}
