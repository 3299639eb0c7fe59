using System.Security.Cryptography;
using RelayAppliance.Server.Pop3;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>
/// The test double of the durable store: per-user lists of messages, an exclusive lock per maildrop, snapshot at open,
/// all-or-nothing commits. A message is either bytes or a generator (for 20 MB messages that are never held whole).
/// </summary>
internal sealed class InMemoryMailboxStore : IMailboxStore
{
    private readonly object _gate = new();
    private readonly Dictionary<string, List<Stored>> _boxes = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _locked = new(StringComparer.OrdinalIgnoreCase);
    private int _nextUid;

    private sealed record Stored(string Uid, long Size, Func<Stream> Open);

    /// <summary>Commits throw (a disk error) while set.</summary>
    public bool FailCommits { get; set; }

    /// <summary>Opening a maildrop throws while set.</summary>
    public bool FailOpens { get; set; }

    /// <summary>Number of commits that removed mail.</summary>
    public int Commits { get; private set; }

    /// <summary>The stream most recently opened for a generated message (to watch how far the session has read).</summary>
    public CountingStream? LastGeneratedStream { get; private set; }

    public string Deliver(string user, byte[] message) => Add(user, message.Length, () => new MemoryStream(message, writable: false));

    public string Deliver(string user, string message) => Deliver(user, System.Text.Encoding.UTF8.GetBytes(message));

    /// <summary>A message produced on demand by <paramref name="open"/>: <paramref name="size"/> octets, never held whole.</summary>
    /// <param name="viaPushCopy">Serve it as a push-style store would: <see cref="MaildropStreams.FromCopy"/> over a copy of the stream.</param>
    public string DeliverGenerated(string user, long size, Func<Stream> open, bool viaPushCopy = false) => Add(user, size, () =>
    {
        var stream = new CountingStream(open());
        LastGeneratedStream = stream;
        return viaPushCopy
            ? MaildropStreams.FromCopy(async (destination, ct) =>
            {
                await using (stream)
                {
                    await stream.CopyToAsync(destination, ct);
                }
            })
            : stream;
    });

    private string Add(string user, long size, Func<Stream> open)
    {
        lock (_gate)
        {
            var uid = "uid-" + (++_nextUid).ToString("D6", System.Globalization.CultureInfo.InvariantCulture) + "." + Convert.ToHexString(RandomNumberGenerator.GetBytes(4));
            if (!_boxes.TryGetValue(user, out var box))
            {
                _boxes[user] = box = [];
            }
            box.Add(new Stored(uid, size, open));
            return uid;
        }
    }

    public IReadOnlyList<string> Uids(string user)
    {
        lock (_gate)
        {
            return _boxes.TryGetValue(user, out var box) ? box.Select(m => m.Uid).ToList() : [];
        }
    }

    public bool IsLocked(string user)
    {
        lock (_gate)
        {
            return _locked.Contains(user);
        }
    }

    /// <summary>Waits (real time) until nobody holds the user's maildrop.</summary>
    public async Task WaitUnlockedAsync(string user)
    {
        for (var i = 0; i < 500 && IsLocked(user); i++)
        {
            await Task.Delay(10);
        }
        Assert.False(IsLocked(user), "the maildrop is still locked");
    }

    public ValueTask<IMaildrop?> TryOpenAsync(string user, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (FailOpens)
            {
                throw new IOException("store unavailable");
            }
            if (!_locked.Add(user))
            {
                return ValueTask.FromResult<IMaildrop?>(null);
            }
            var snapshot = _boxes.TryGetValue(user, out var box) ? box.ToList() : [];
            return ValueTask.FromResult<IMaildrop?>(new Maildrop(this, user, snapshot));
        }
    }

    private sealed class Maildrop(InMemoryMailboxStore store, string user, List<Stored> snapshot) : IMaildrop
    {
        private bool _disposed;
        private bool _committed;

        public IReadOnlyList<MaildropEntry> Messages { get; } = snapshot.Select(m => new MaildropEntry(m.Uid, m.Size)).ToList();

        public ValueTask<Stream> OpenMessageAsync(int index, CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return ValueTask.FromResult(snapshot[index].Open());
        }

        public ValueTask CommitDeletionsAsync(IReadOnlyList<int> indexes, CancellationToken cancellationToken)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Assert.False(_committed, "CommitDeletionsAsync called twice");
            Assert.NotEmpty(indexes);
            Assert.Equal(indexes.Distinct().Order(), indexes);
            _committed = true;
            lock (store._gate)
            {
                if (store.FailCommits)
                {
                    throw new IOException("commit failed");
                }
                var remove = indexes.Select(i => snapshot[i]).ToHashSet();
                store._boxes[user].RemoveAll(remove.Contains);
                store.Commits++;
            }
            return ValueTask.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            if (!_disposed)
            {
                _disposed = true;
                lock (store._gate)
                {
                    store._locked.Remove(user);
                }
            }
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>A read-only pass-through that counts what has been read.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    private long _read;

    public long BytesRead => Interlocked.Read(ref _read);
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        => Count(await inner.ReadAsync(buffer, cancellationToken));

    private int Count(int read)
    {
        Interlocked.Add(ref _read, read);
        return read;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
