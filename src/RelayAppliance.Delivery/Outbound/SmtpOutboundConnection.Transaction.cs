using System.Buffers;

namespace RelayAppliance.Delivery.Outbound;

/// <summary>One mail transaction: MAIL, RCPT, DATA (RFC 5321 §3.3), pipelined when offered (RFC 2920).</summary>
public sealed partial class SmtpOutboundConnection
{
    public async Task<TransactionResult> SendAsync(OutboundMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken)
        {
            throw new InvalidOperationException("The connection is no longer usable.");
        }
        if (message.Recipients.Count == 0)
        {
            throw new ArgumentException("A transaction needs at least one recipient.", nameof(message));
        }
        CheckAddress(message.Sender);
        foreach (var recipient in message.Recipients)
        {
            CheckAddress(recipient);
        }
        if (LocalRefusal(message) is { } refusal)
        {
            return new TransactionResult(Enumerable.Repeat(refusal, message.Recipients.Count).ToArray());
        }

        var replies = new SmtpReply[message.Recipients.Count];
        _transactions++;
        var (mail, data) = _capabilities.Pipelining
            ? await SendEnvelopePipelinedAsync(message, replies, cancellationToken).ConfigureAwait(false)
            : await SendEnvelopeAsync(message, replies, cancellationToken).ConfigureAwait(false);

        if (!mail.IsPositive)
        {
            Array.Fill(replies, mail);
            await FinishRefusedDataAsync(data, cancellationToken).ConfigureAwait(false);
            // Without pipelining a refused MAIL opened no transaction (§4.1.1.2); with it, RSET before the next one.
            _needsReset = data is not null;
            return new TransactionResult(replies);
        }
        if (!replies.Any(r => r.Code == 0))
        {
            await FinishRefusedDataAsync(data, cancellationToken).ConfigureAwait(false);
            _needsReset = true; // RFC 2920 §3.1: the MAIL is still open; the next transaction starts with RSET
            return new TransactionResult(replies);
        }
        if (data is not { Code: 354 })
        {
            FillAccepted(replies, data!.Value);
            _needsReset = true;
            return new TransactionResult(replies);
        }

        var end = await SendDataAsync(message, cancellationToken).ConfigureAwait(false);
        FillAccepted(replies, end);
        _needsReset = false;
        return new TransactionResult(replies);
    }

    /// <summary>RFC 2920 §3.1: [RSET] MAIL, every RCPT and DATA in one write, then the replies in order.</summary>
    private async Task<(SmtpReply Mail, SmtpReply? Data)> SendEnvelopePipelinedAsync(
        OutboundMessage message, SmtpReply[] replies, CancellationToken cancellationToken)
    {
        var reset = _needsReset;
        _needsReset = true;
        if (reset)
        {
            WriteCommand("RSET");
        }
        WriteCommand(MailCommand(message));
        foreach (var recipient in message.Recipients)
        {
            WriteCommand($"RCPT TO:<{recipient}>");
        }
        WriteCommand("DATA");
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);

        if (reset)
        {
            await ReadResetReplyAsync(cancellationToken).ConfigureAwait(false);
        }
        var mail = Expect(await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false), "MAIL");
        for (var i = 0; i < replies.Length; i++)
        {
            var rcpt = Expect(await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false), "RCPT");
            replies[i] = RecipientOutcome(rcpt);
        }
        var data = await ReadReplyAsync(_options.DataInitiationTimeout, cancellationToken).ConfigureAwait(false);
        return (mail, ExpectData(data));
    }

    /// <summary>Lock-step: each command waits for its reply (RFC 5321 §4.3.1); DATA only if some RCPT succeeded.</summary>
    private async Task<(SmtpReply Mail, SmtpReply? Data)> SendEnvelopeAsync(
        OutboundMessage message, SmtpReply[] replies, CancellationToken cancellationToken)
    {
        if (_needsReset)
        {
            WriteCommand("RSET");
            await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
            await ReadResetReplyAsync(cancellationToken).ConfigureAwait(false);
        }
        _needsReset = true;

        var mail = await CommandAsync(MailCommand(message), "MAIL", cancellationToken).ConfigureAwait(false);
        if (!mail.IsPositive)
        {
            return (mail, null);
        }
        var anyAccepted = false;
        for (var i = 0; i < replies.Length; i++)
        {
            replies[i] = RecipientOutcome(await CommandAsync($"RCPT TO:<{message.Recipients[i]}>", "RCPT", cancellationToken).ConfigureAwait(false));
            anyAccepted |= replies[i].Code == 0;
        }
        if (!anyAccepted)
        {
            return (mail, null);
        }

        WriteCommand("DATA");
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        var data = await ReadReplyAsync(_options.DataInitiationTimeout, cancellationToken).ConfigureAwait(false);
        return (mail, ExpectData(data));
    }

    /// <summary>Streams the body after 354 and reads the reply to the final dot (§4.5.3.2.5, §4.5.3.2.6).</summary>
    private async Task<SmtpReply> SendDataAsync(OutboundMessage message, CancellationToken cancellationToken)
    {
        var body = new DotStuffingStream(_writer, token => FlushAsync(_options.DataBlockTimeout, token));
        try
        {
            await message.WriteBodyAsync(body, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutboundProtocolException)
        {
            // The body source failed (or the caller cancelled) mid-DATA: there is no clean way out of DATA.
            _broken = true;
            throw;
        }
        body.WriteTerminator();
        await FlushAsync(_options.DataBlockTimeout, cancellationToken).ConfigureAwait(false);
        return Expect(await ReadReplyAsync(_options.DataTerminationTimeout, cancellationToken).ConfigureAwait(false), "end of data");
    }

    /// <summary>RFC 2920 §3.1: if the server took DATA although no recipient was accepted, send an empty message.</summary>
    private async Task FinishRefusedDataAsync(SmtpReply? data, CancellationToken cancellationToken)
    {
        if (data is { Code: 354 })
        {
            _writer.Write(".\r\n"u8);
            await FlushAsync(_options.DataBlockTimeout, cancellationToken).ConfigureAwait(false);
            Expect(await ReadReplyAsync(_options.DataTerminationTimeout, cancellationToken).ConfigureAwait(false), "end of data");
        }
    }

    private async Task<SmtpReply> CommandAsync(string command, string verb, CancellationToken cancellationToken)
    {
        WriteCommand(command);
        await FlushAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        return Expect(await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false), verb);
    }

    private async Task ReadResetReplyAsync(CancellationToken cancellationToken)
    {
        var reply = await ReadReplyAsync(_options.CommandTimeout, cancellationToken).ConfigureAwait(false);
        if (reply.Code is < 200 or >= 300)
        {
            Fail("RSET was refused", reply);
        }
        _needsReset = false;
    }

    /// <summary>RFC 1870 §4 SIZE, RFC 6152 BODY=8BITMIME, RFC 6531 §3.4 SMTPUTF8; null sender as &lt;&gt; (§4.5.5).</summary>
    private string MailCommand(OutboundMessage message)
    {
        var command = $"MAIL FROM:<{message.Sender}>";
        if (_capabilities.Size)
        {
            command += $" SIZE={message.Size}";
        }
        if (message.EightBitMime)
        {
            command += " BODY=8BITMIME";
        }
        if (message.SmtpUtf8)
        {
            command += " SMTPUTF8";
        }
        return command;
    }

    private SmtpReply? LocalRefusal(OutboundMessage message)
    {
        if (message.EightBitMime && !_capabilities.EightBitMime)
        {
            return LocalReplies.EightBitNotSupported;
        }
        if (message.SmtpUtf8 && !_capabilities.SmtpUtf8)
        {
            return LocalReplies.SmtpUtf8NotSupported;
        }
        if (_capabilities.MaxSize > 0 && message.Size > _capabilities.MaxSize)
        {
            return LocalReplies.TooBig(message.Size, _capabilities.MaxSize);
        }
        return null;
    }

    /// <summary>
    /// default (Code 0) marks an accepted recipient still waiting for the end-of-data reply. RFC 5321 §4.5.3.1.10: a
    /// 552 to RCPT is the obsolete "too many recipients" and is treated as temporary (452).
    /// </summary>
    private static SmtpReply RecipientOutcome(SmtpReply rcpt) =>
        rcpt.IsPositive ? default : rcpt.Code == 552 ? rcpt with { Code = 452 } : rcpt;

    private static void FillAccepted(SmtpReply[] replies, SmtpReply reply)
    {
        for (var i = 0; i < replies.Length; i++)
        {
            if (replies[i].Code == 0)
            {
                replies[i] = reply;
            }
        }
    }

    /// <summary>MAIL, RCPT and the end of data answer 2xx, 4xx or 5xx (§4.3.2); anything else is out of step.</summary>
    private SmtpReply Expect(SmtpReply reply, string verb)
    {
        if (reply.Code is >= 300 and < 400)
        {
            Fail($"Unexpected reply to {verb}", reply);
        }
        return reply;
    }

    /// <summary>DATA answers 354, 4xx or 5xx (§4.3.2).</summary>
    private SmtpReply ExpectData(SmtpReply reply)
    {
        if (reply.Code != 354 && reply.Code < 400)
        {
            Fail("Unexpected reply to DATA", reply);
        }
        return reply;
    }

    private static void CheckAddress(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AsSpan().IndexOfAny("\r\n<>") >= 0)
        {
            throw new ArgumentException($"Invalid address '{address}'.", nameof(address));
        }
    }
}
