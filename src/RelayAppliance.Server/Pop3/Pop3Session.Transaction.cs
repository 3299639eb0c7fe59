using System.Buffers;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Server.Logging;

namespace RelayAppliance.Server.Pop3;

/// <summary>
/// TRANSACTION and UPDATE (RFC 1939 §5, §6): numbers and sizes come from the maildrop's snapshot, DELE only marks,
/// RSET unmarks, and only QUIT asks the store to remove the marked messages — durably, before "+OK".
/// </summary>
internal sealed partial class Pop3Session
{
    private const int MessageReadSize = 16 * 1024;

    private IMaildrop? _maildrop;
    private IReadOnlyList<MaildropEntry> _messages = [];
    private bool[] _deleted = [];
    private int _liveCount;
    private long _liveOctets;
    private int _pendingIndex;
    private int _pendingTopLines;

    private void OpenTransaction(string user, IMaildrop maildrop)
    {
        _maildrop = maildrop;
        _loginUser = user;
        _messages = maildrop.Messages;
        _deleted = new bool[_messages.Count];
        _state = Pop3State.Transaction;
        CountLive();
    }

    private void CountLive()
    {
        _liveCount = 0;
        _liveOctets = 0;
        for (var i = 0; i < _messages.Count; i++)
        {
            if (!_deleted[i])
            {
                _liveCount++;
                _liveOctets += _messages[i].Size;
            }
        }
    }

    /// <summary>The 0-based index of a live message, or -1 for a number beyond the maildrop or a deleted message (RFC 1939 §5).</summary>
    private int LiveIndex(int number)
    {
        var index = number - 1;
        return (uint)index < (uint)_messages.Count && !_deleted[index] ? index : -1;
    }

    private Next HandleStat()
    {
        Pop3Replies.WriteStat(_writer, _liveCount, _liveOctets);
        return Next.ReadMore;
    }

    private Next HandleList(int number)
    {
        if (number == 0)
        {
            return Next.ListAll;
        }
        var index = LiveIndex(number);
        if (index < 0)
        {
            return Reply(Pop3Replies.NoSuchMessage);
        }
        Pop3Replies.WriteScanListing(_writer, number, _messages[index].Size, ok: true);
        return Next.ReadMore;
    }

    private Next HandleUidl(int number)
    {
        if (number == 0)
        {
            return Next.UidlAll;
        }
        var index = LiveIndex(number);
        if (index < 0)
        {
            return Reply(Pop3Replies.NoSuchMessage);
        }
        Pop3Replies.WriteUniqueIdListing(_writer, number, _messages[index].Uid, ok: true);
        return Next.ReadMore;
    }

    private Next HandleRetr(int number, int topLines)
    {
        var index = LiveIndex(number);
        if (index < 0)
        {
            return Reply(Pop3Replies.NoSuchMessage);
        }
        _pendingIndex = index;
        _pendingTopLines = topLines;
        return Next.SendMessage;
    }

    private Next HandleDele(int number)
    {
        var index = number - 1;
        if ((uint)index >= (uint)_messages.Count)
        {
            return Reply(Pop3Replies.NoSuchMessage);
        }
        if (_deleted[index])
        {
            return Reply(Pop3Replies.MessageAlreadyDeleted);
        }
        _deleted[index] = true;
        _liveCount--;
        _liveOctets -= _messages[index].Size;
        return Reply(Pop3Replies.MessageDeleted);
    }

    private Next HandleRset()
    {
        Array.Clear(_deleted);
        CountLive();
        return Reply(Pop3Replies.Reset);
    }

    /// <summary>LIST or UIDL without an argument: one line per live message, flushed in blocks.</summary>
    private async Task WriteListingAsync(bool uids)
    {
        if (uids)
        {
            _writer.Write(Pop3Replies.UniqueIdListingFollows);
        }
        else
        {
            Pop3Replies.WriteListHeader(_writer, _liveCount, _liveOctets);
        }
        for (var i = 0; i < _messages.Count; i++)
        {
            if (_deleted[i])
            {
                continue;
            }
            var entry = _messages[i];
            if (uids)
            {
                Pop3Replies.WriteUniqueIdListing(_writer, i + 1, entry.Uid, ok: false);
            }
            else
            {
                Pop3Replies.WriteScanListing(_writer, i + 1, entry.Size, ok: false);
            }
            if (_writer.UnflushedBytes >= FlushThreshold)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }
        _writer.Write(Pop3Replies.EndOfMultiline);
    }

    /// <summary>
    /// RETR / TOP: streams the stored message from the store through the byte-stuffing encoder into the pipe, one read
    /// at a time, flushing as the pipe fills — a 20 MB message never sits in memory. A store failure before the first
    /// byte is -ERR [SYS/TEMP]; after "+OK" it closes the connection without the terminator, so the client sees a
    /// broken response rather than a truncated message.
    /// </summary>
    private async Task<Next> SendMessageAsync()
    {
        var index = _pendingIndex;
        var topLines = _pendingTopLines;
        Stream content;
        try
        {
            content = await _maildrop!.OpenMessageAsync(index, _idle.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!_idle.IsCancellationRequested)
        {
            Pop3Log.ReadFailed(_server.Logger, _client, _loginUser!, index + 1, e);
            return Reply(Pop3Replies.ReadFailed);
        }
        var buffer = ArrayPool<byte>.Shared.Rent(MessageReadSize);
        try
        {
            await using (content.ConfigureAwait(false))
            {
                if (topLines < 0)
                {
                    Pop3Replies.WriteMessageFollows(_writer, _messages[index].Size); // "+OK n octets", as fetchmail likes
                }
                else
                {
                    _writer.Write(Pop3Replies.MessageFollows);
                }
                var encoder = topLines < 0 ? Pop3MessageEncoder.ForRetr() : Pop3MessageEncoder.ForTop(topLines);
                long sent = 0;
                while (!encoder.IsComplete)
                {
                    int read;
                    try
                    {
                        read = await content.ReadAsync(buffer.AsMemory(0, MessageReadSize), _idle.Token).ConfigureAwait(false);
                    }
                    catch (Exception e) when (!_idle.IsCancellationRequested)
                    {
                        Pop3Log.ReadFailed(_server.Logger, _client, _loginUser!, index + 1, e);
                        return Next.Close;
                    }
                    if (read == 0)
                    {
                        if (topLines < 0 && sent != _messages[index].Size)
                        {
                            // The store broke its contract (Size is what it yields): do not pass a short message off as whole.
                            Pop3Log.ReadFailed(_server.Logger, _client, _loginUser!, index + 1,
                                new InvalidDataException($"the store yielded {sent} octets for a message of {_messages[index].Size}"));
                            return Next.Close;
                        }
                        break;
                    }
                    sent += read;
                    encoder.Write(buffer.AsSpan(0, read), _writer);
                    if (_writer.UnflushedBytes >= FlushThreshold)
                    {
                        await FlushAsync().ConfigureAwait(false);
                    }
                }
                encoder.Complete(_writer);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return Next.ReadMore;
    }

    /// <summary>
    /// QUIT. In TRANSACTION this is the UPDATE state (RFC 1939 §6): the marked messages are removed durably, the lock is
    /// released, and only then "+OK"; if the store fails, nothing is removed and the answer is -ERR [SYS/TEMP].
    /// </summary>
    private async Task QuitAsync()
    {
        if (_maildrop is not null)
        {
            var deletions = new List<int>();
            for (var i = 0; i < _deleted.Length; i++)
            {
                if (_deleted[i])
                {
                    deletions.Add(i);
                }
            }
            if (deletions.Count > 0)
            {
                try
                {
                    // Not cancellable: once started, the commit finishes even if the client is gone.
                    await _maildrop.CommitDeletionsAsync(deletions, CancellationToken.None).ConfigureAwait(false);
                    Pop3Log.Deleted(_server.Logger, _client, _loginUser!, deletions.Count);
                }
                catch (Exception e)
                {
                    Pop3Log.CommitFailed(_server.Logger, _client, _loginUser!, deletions.Count, e);
                    await CloseMaildropAsync().ConfigureAwait(false);
                    _writer.Write(Pop3Replies.CommitFailed);
                    await FlushAsync().ConfigureAwait(false);
                    return;
                }
            }
            // Release the lock before "+OK": a client that reconnects at once must not find its own maildrop in use.
            await CloseMaildropAsync().ConfigureAwait(false);
        }
        _writer.Write(Pop3Replies.Bye);
        await FlushAsync().ConfigureAwait(false);
    }

    private async ValueTask CloseMaildropAsync()
    {
        var maildrop = _maildrop;
        _maildrop = null;
        if (maildrop is not null)
        {
            await maildrop.DisposeAsync().ConfigureAwait(false);
        }
    }
}
