using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;
using Microsoft.Extensions.Logging;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Server.Logging;
using RelayAppliance.Spool;

namespace RelayAppliance.Server.Smtp;

/// <summary>Message content: DATA (dot-stuffed, RFC 5321 §4.5.2) and BDAT (counted chunks, RFC 3030).</summary>
internal sealed partial class SmtpSession
{
    private byte[]? _discard; // sink for content we read but will not keep (too big, out of sequence)

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveDataAsync()
    {
        var unstuffer = new DotUnstuffer(_options.BareLineEndings == BareLineEndingPolicy.Normalize, _options.MaxTextLine);
        var tooBig = false;
        WriteReceivedHeader();
        while (true)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var status = UnstuffInto(ref unstuffer, buffer, ref tooBig, out var consumed);
            _reader.AdvanceTo(consumed, status == DataStatus.NeedMoreInput ? buffer.End : consumed);
            if (status == DataStatus.EndOfData)
            {
                break;
            }
            if (status == DataStatus.OutputFull)
            {
                await _body.FlushChunkAsync(CancellationToken.None).ConfigureAwait(false);
            }
            else if (result.IsCompleted)
            {
                throw new ConnectionClosedException();
            }
        }

        if (!unstuffer.SawBareLineEnding && !unstuffer.SawLongLine && !tooBig)
        {
            await AcceptMessageAsync().ConfigureAwait(false);
            return;
        }
        FailTransaction(unstuffer.SawBareLineEnding ? SmtpReplies.BareLineEndingInData
            : unstuffer.SawLongLine ? SmtpReplies.DataLineTooLong : SmtpReplies.MessageTooBig);
    }

    /// <summary>Runs the un-stuffer over the buffer into the body chunk; stops when the chunk is full or data ends.</summary>
    private DataStatus UnstuffInto(ref DotUnstuffer unstuffer, in ReadOnlySequence<byte> buffer, ref bool tooBig, out SequencePosition consumed)
    {
        var position = buffer.Start;
        var status = DataStatus.NeedMoreInput;
        foreach (var segment in buffer)
        {
            var input = segment.Span;
            while (!input.IsEmpty)
            {
                if (!tooBig && _body.IsFull)
                {
                    consumed = position; // the last pass filled the chunk exactly: flush before writing more
                    return DataStatus.OutputFull;
                }
                var output = tooBig ? Discard() : _body.GetSpan();
                status = unstuffer.Process(input, output, out var used, out var written);
                input = input[used..];
                position = buffer.GetPosition(used, position);
                if (!tooBig)
                {
                    _body.Advance(written);
                    if (_body.Length > _options.MaxMessageSize)
                    {
                        tooBig = true; // RFC 1870 §6: keep reading to the end, then 552
                        _body.Reset();
                    }
                }
                if (status == DataStatus.EndOfData)
                {
                    consumed = position;
                    return status;
                }
            }
        }
        consumed = position;
        return DataStatus.NeedMoreInput;
    }

    private Span<byte> Discard() => _discard ??= new byte[4096];

    private async Task ReceiveBdatAsync()
    {
        var remaining = _bdatSize;
        var keep = !_transactionFailed;
        if (keep && _state == SmtpState.RecipientGiven)
        {
            WriteReceivedHeader();
        }
        while (remaining > 0)
        {
            var result = await ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var chunk = buffer.Slice(0, Math.Min(remaining, buffer.Length));
            var copied = 0L;
            foreach (var segment in chunk)
            {
                var input = segment.Span;
                while (!input.IsEmpty && (!keep || !_body.IsFull))
                {
                    var output = keep ? _body.GetSpan() : Discard();
                    var n = Math.Min(input.Length, output.Length);
                    input[..n].CopyTo(output);
                    input = input[n..];
                    copied += n;
                    if (keep)
                    {
                        _body.Advance(n);
                    }
                }
                if (keep && _body.IsFull)
                {
                    break;
                }
            }
            remaining -= copied;
            _reader.AdvanceTo(buffer.GetPosition(copied), copied == buffer.Length ? buffer.End : buffer.GetPosition(copied));
            if (keep && _body.Length > _options.MaxMessageSize)
            {
                keep = false;
                _transactionFailed = true;
                _body.Reset();
            }
            if (keep && _body.IsFull)
            {
                await _body.FlushChunkAsync(CancellationToken.None).ConfigureAwait(false);
            }
            if (remaining > 0 && copied == 0 && result.IsCompleted)
            {
                throw new ConnectionClosedException();
            }
        }

        if (_transactionFailed)
        {
            // RFC 3030 §2: after a failed chunk the rest of the transaction is refused up to and including LAST.
            var reply = _state == SmtpState.MailGiven ? SmtpReplies.NoValidRecipients
                : _state < SmtpState.MailGiven ? SmtpReplies.BadSequence : SmtpReplies.MessageTooBig;
            if (_bdatLast && _state >= SmtpState.MailGiven)
            {
                ResetTransaction();
            }
            _writer.Write(reply);
            if (++_errors >= _options.MaxBadCommands)
            {
                _writer.Write(SmtpReplies.TooManyErrors);
                await _writer.FlushAsync().ConfigureAwait(false);
                throw new ConnectionClosedException();
            }
            return;
        }
        if (!_bdatLast)
        {
            _state = SmtpState.Chunking;
            _writer.Write(SmtpReplies.ChunkReceived);
            return;
        }
        await AcceptMessageAsync().ConfigureAwait(false);
    }

    private void FailTransaction(ReadOnlySpan<byte> reply)
    {
        ResetTransaction();
        _writer.Write(reply);
    }

    /// <summary>Makes the message durable, then (and only then) says 250.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask AcceptMessageAsync()
    {
        MessageId id;
        var size = _body.Length;
        try
        {
            id = await _server.Spool.AcceptAsync(_body, _envelope, CancellationToken.None).ConfigureAwait(false);
        }
        catch (SpoolUnavailableException e)
        {
            Log.SpoolFailed(_server.Logger, _client, e);
            FailTransaction(SmtpReplies.LocalError);
            return;
        }
        if (_server.Logger.IsEnabled(LogLevel.Information))
        {
            Log.MessageQueued(_server.Logger, id, Encoding.UTF8.GetString(_envelope.Sender), size, _envelope.RecipientCount, _client);
        }
        ResetTransaction();
        var span = _writer.GetSpan(64);
        Utf8.TryWrite(span, $"250 2.0.0 Ok: queued as {id.Value:x16}\r\n", out var written);
        _writer.Advance(written); // flushed by the next read that would wait, together with any pipelined replies
    }

    /// <summary>RFC 5321 §4.4 trace header, with the RFC 3848 protocol name (ESMTPS, ESMTPSA, UTF8SMTPS …).</summary>
    private void WriteReceivedHeader()
    {
        var protocol = (_smtpUtf8, _esmtp, _tls is not null, _authUser is not null) switch
        {
            (true, _, true, true) => "UTF8SMTPSA",
            (true, _, true, false) => "UTF8SMTPS",
            (true, _, false, true) => "UTF8SMTPA",
            (true, _, false, false) => "UTF8SMTP",
            (false, false, _, _) => "SMTP",
            (false, true, true, true) => "ESMTPSA",
            (false, true, true, false) => "ESMTPS",
            (false, true, false, true) => "ESMTPA",
            _ => "ESMTP",
        };
        var span = _body.GetSpan();
        var now = _server.Time.GetUtcNow();
        var ok = Utf8.TryWrite(span, $"Received: from {_helo} ([{_client}])\r\n\tby {_options.Hostname} (RelayAppliance) with {protocol}", out var written);
        if (ok && _tls is not null)
        {
            ok = Utf8.TryWrite(span[written..], $"\r\n\t(using {_tls.SslProtocol} with cipher {_tls.NegotiatedCipherSuite})", out var n);
            written += n;
        }
        if (ok && _authUser is not null)
        {
            ok = Utf8.TryWrite(span[written..], $"\r\n\t(authenticated as {_authUser})", out var n);
            written += n;
        }
        if (ok)
        {
            ok = Utf8.TryWrite(span[written..], $";\r\n\t{now:r}\r\n", out var n);
            written += n;
        }
        if (ok)
        {
            _body.Advance(written);
        }
    }
}
