using System.Buffers.Binary;
using System.Text;
using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool.Tests;

public sealed class RecordFormatTests
{
    [Fact]
    public void Persisted_enum_values_are_pinned()
    {
        // These bytes are on disk in every spool: a change here corrupts existing queues. Never renumber.
        Assert.Equal(1, (byte)RecordKind.Accepted);
        Assert.Equal(2, (byte)RecordKind.RcptDelivered);
        Assert.Equal(3, (byte)RecordKind.RcptDeferred);
        Assert.Equal(4, (byte)RecordKind.RcptFailed);
        Assert.Equal(5, (byte)RecordKind.MessageDone);
        Assert.Equal(6, (byte)RecordKind.Moved);
        Assert.Equal(7, (byte)RecordKind.Carry);
        Assert.Equal(8, (byte)RecordKind.MailboxDeliver);
        Assert.Equal(9, (byte)RecordKind.MailboxDelete);
        Assert.Equal(10, (byte)RecordKind.Startup);
        Assert.Equal(11, (byte)RecordKind.Flags);
        Assert.Equal(64, (byte)RecordKind.Chunk);
        Assert.Equal(12, Enum.GetValues<RecordKind>().Length);

        Assert.Equal(1, (byte)MessageFlags.Held);
        Assert.Equal(2, (byte)MessageFlags.DelayWarned);

        Assert.Equal(0, (byte)DoneReason.AllRecipientsFinal);
        Assert.Equal(1, (byte)DoneReason.DeletedByOperator);

        Assert.Equal(1, (byte)AcceptedFlags.SmtpUtf8);
        Assert.Equal(2, (byte)AcceptedFlags.EightBitMime);
        Assert.Equal(4, (byte)AcceptedFlags.Tls);
        Assert.Equal(8, (byte)AcceptedFlags.HasAuthUser);
        Assert.Equal(16, (byte)AcceptedFlags.InlineBody);

        Assert.Equal(0, (byte)RecipientRoute.Remote);
        Assert.Equal(1, (byte)RecipientRoute.Local);
        Assert.Equal(0, (byte)RecipientState.Queued);
        Assert.Equal(1, (byte)RecipientState.Delivered);
        Assert.Equal(2, (byte)RecipientState.Deferred);
        Assert.Equal(3, (byte)RecipientState.Failed);
        // Outcomes are cast to states: equal values are part of the format.
        Assert.Equal(1, (byte)RecipientOutcome.Delivered);
        Assert.Equal(2, (byte)RecipientOutcome.Deferred);
        Assert.Equal(3, (byte)RecipientOutcome.Failed);
        Assert.Equal(3, Enum.GetValues<RecipientOutcome>().Length);

        Assert.Equal(2, RecordLayout.MaxKnownVersion(RecordKind.Accepted));
        Assert.Equal(4, RecordLayout.MaxKnownVersion(RecordKind.Carry));
        Assert.Equal(1, RecordLayout.MaxKnownVersion(RecordKind.RcptDelivered));
        Assert.Equal(1, RecordLayout.MaxKnownVersion(RecordKind.RcptDeferred));
        Assert.Equal(1, RecordLayout.MaxKnownVersion(RecordKind.RcptFailed));
        Assert.Equal(1, RecordLayout.MaxKnownVersion(RecordKind.Flags));
    }

    [Fact]
    public void Result_record_layout_round_trips()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(0x0102);
        var next = DateTimeOffset.FromUnixTimeMilliseconds(0x0304);
        var record = ResultRecord.Create(RecordKind.RcptDeferred, 42, at, next, [new ResultEntry(1, 2, "mx", "451 x"), new ResultEntry(3, 1, null, null)]);
        Assert.Equal(
            [3, 1, 42, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 4, 3, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
             1, 0, 0, 0, 2, 0, 0, 0, 2, 0, (byte)'m', (byte)'x', 5, 0, (byte)'4', (byte)'5', (byte)'1', (byte)' ', (byte)'x',
             3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
            record);
        var (readNext, entries) = ResultRecord.Read(record);
        Assert.Equal(next, readNext);
        Assert.Equal([new ResultEntry(1, 2, "mx", "451 x"), new ResultEntry(3, 1, null, null)], entries);
        Assert.Null(ResultRecord.Read(ResultRecord.Create(RecordKind.RcptDelivered, 42, at, null, [])).NextAttemptAt);
        Assert.Throws<InvalidDataException>(() => ResultRecord.Read(record.AsSpan(0, record.Length - 1)));
        Assert.Throws<InvalidDataException>(() => ResultRecord.Read([.. record, 0]));
    }

    [Fact]
    public void Carry_v3_holds_the_recipient_states_and_flags_and_v2_and_v1_are_still_read()
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("192.0.2.1", "h", null, tls: false);
        envelope.SetSender("a@b"u8, false, false);
        envelope.AddRecipient("c@d"u8, RecipientRoute.Remote);
        envelope.AddRecipient("e@f"u8, RecipientRoute.Local);
        var accepted = AcceptedRecord.Create(9, DateTimeOffset.UnixEpoch, 5, [new BodyChunk(64, 5)], envelope);
        RecipientProgress[] progress =
        [
            new(RecipientState.Deferred, 3, DateTimeOffset.FromUnixTimeMilliseconds(77), "mx.d", "451 later"),
            new(RecipientState.Queued, 0, null, null, null),
        ];

        var carry = AcceptedRecord.CreateCarry(accepted, progress, MessageFlags.Held | MessageFlags.DelayWarned);
        Assert.Equal((byte)RecordKind.Carry, carry[0]);
        Assert.Equal(4, carry[1]);
        var entry = Index.MessageEntry.FromJournal(9, carry, null);
        // The index keeps the envelope part, as an Accepted record (whose state bytes are current, as in a Carry v1).
        Assert.Equal(accepted.Length, entry.Record.Length);
        Assert.Equal(RecordLayout.AcceptedVersion, entry.Record[1]);
        Assert.Equal(MessageFlags.Held | MessageFlags.DelayWarned, entry.Flags);
        var expected = AcceptedView.Parse(accepted).ToInfo(progress);
        var actual = AcceptedView.Parse(entry.Record).ToInfo(progress);
        Assert.Equal(expected, actual with { Recipients = expected.Recipients });
        Assert.Equal(expected.Recipients, actual.Recipients);
        Assert.Equal(progress, entry.Progress);
        Assert.Equal(RecipientState.Deferred, AcceptedView.Parse(entry.Record).ToInfo().Recipients[0].State);
        Assert.Throws<InvalidDataException>(() => Index.MessageEntry.FromJournal(9, carry.AsSpan(0, carry.Length - 2), null));

        // A Carry v2 (what the previous version wrote) is the v3 layout without the flags byte.
        var carryV2 = carry[..^1];
        carryV2[1] = 2;
        var fromV2 = Index.MessageEntry.FromJournal(9, carryV2, null);
        Assert.Equal(progress, fromV2.Progress);
        Assert.Equal(MessageFlags.None, fromV2.Flags);

        var carryV1 = new byte[accepted.Length];
        AcceptedRecord.WriteAsCarry(accepted, carryV1);
        Assert.Equal([new RecipientProgress(RecipientState.Queued, 0, null, null, null), new RecipientProgress(RecipientState.Queued, 0, null, null, null)],
            Index.MessageEntry.FromJournal(9, carryV1, null).Progress);
    }

    [Fact]
    public void Flags_record_round_trips_and_a_wrong_size_is_refused()
    {
        var record = RecordLayout.CreateFlags(42, MessageFlags.Held, DateTimeOffset.UnixEpoch);
        Assert.True(RecordHeader.TryRead(record, out var header));
        Assert.Equal(new RecordHeader(RecordKind.Flags, 1, 42), header);
        Assert.Equal(MessageFlags.Held, RecordLayout.ReadFlags(record));
        Assert.Throws<InvalidDataException>(() => RecordLayout.ReadFlags(record.AsSpan(0, record.Length - 1)));
    }

    [Fact]
    public void Accepted_record_round_trips()
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("2001:db8::1", "mx.example.org", null, tls: false);
        envelope.SetSender("jörg@exämple.org"u8, smtpUtf8: true, eightBitMime: false);
        envelope.AddRecipient("a@example.net"u8, RecipientRoute.Remote);
        envelope.AddRecipient("postmaster@local.test"u8, RecipientRoute.Local);
        var receivedAt = DateTimeOffset.FromUnixTimeMilliseconds(1_760_000_000_123);
        BodyChunk[] chunks = [new(4096, 65512), new(135_168, 100)];

        var record = AcceptedRecord.Create(0x0123456789abcdef, receivedAt, 65612, chunks, envelope);
        var view = AcceptedView.Parse(record);

        Assert.Equal(0x0123456789abcdefUL, view.MessageId);
        Assert.Equal(2, view.ChunkCount);
        Assert.Equal(chunks[0], view.GetChunk(0));
        Assert.Equal(chunks[1], view.GetChunk(1));
        var info = view.ToInfo();
        Assert.Equal(new MessageId(0x0123456789abcdef), info.Id);
        Assert.Equal("jörg@exämple.org", info.Sender);
        Assert.Equal(receivedAt, info.ReceivedAt);
        Assert.Equal(65612, info.Size);
        Assert.Equal("2001:db8::1", info.ClientAddress);
        Assert.Equal("mx.example.org", info.Helo);
        Assert.Null(info.AuthenticatedUser);
        Assert.False(info.Tls);
        Assert.True(info.SmtpUtf8);
        Assert.False(info.EightBitMime);
        Assert.Equal(
            [new RecipientInfo("a@example.net", RecipientRoute.Remote, RecipientState.Queued),
             new RecipientInfo("postmaster@local.test", RecipientRoute.Local, RecipientState.Queued)],
            info.Recipients);

        // The layout is little-endian and starts with the common header.
        Assert.Equal((byte)RecordKind.Accepted, record[0]);
        Assert.Equal(RecordLayout.AcceptedVersion, record[1]);
        Assert.Equal(0x0123456789abcdefUL, BinaryPrimitives.ReadUInt64LittleEndian(record.AsSpan(2)));
        Assert.Equal(0xef, record[2]);

        var carry = new byte[record.Length];
        AcceptedRecord.WriteAsCarry(record, carry);
        Assert.Equal((byte)RecordKind.Carry, carry[0]);
        Assert.Equal(info, AcceptedView.Parse(carry).ToInfo() with { Recipients = info.Recipients });
    }

    [Fact]
    public void Session_texts_are_capped_at_1024_bytes_on_a_character_boundary()
    {
        // "é" is two bytes in UTF-8 and "€" three: 1024 is not a multiple of three, so a byte cut would split one.
        var helo = new string('€', 700);
        var user = "u" + new string('é', 600);
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("192.0.2.7", helo, user, tls: true);
        envelope.SetSender("a@b"u8, false, false);
        envelope.AddRecipient("c@d"u8, RecipientRoute.Remote);

        var info = AcceptedView.Parse(AcceptedRecord.Create(1, DateTimeOffset.UnixEpoch, 0, [], envelope)).ToInfo();

        Assert.Equal("192.0.2.7", info.ClientAddress);
        Assert.Equal(helo[..341], info.Helo); // 341 × 3 = 1023 bytes; a 342nd would need 1026
        Assert.Equal(user[..512], info.AuthenticatedUser); // 1 + 511 × 2 = 1023 bytes
        Assert.True(info.Tls);
    }

    [Fact]
    public void Malformed_accepted_records_are_rejected()
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSender("a@b"u8, false, false);
        envelope.AddRecipient("c@d"u8, RecipientRoute.Remote);
        var record = AcceptedRecord.Create(1, DateTimeOffset.UnixEpoch, 0, [], envelope);

        Assert.Throws<InvalidDataException>(() => AcceptedView.Parse(record.AsSpan(0, record.Length - 1)));
        Assert.Throws<InvalidDataException>(() => AcceptedView.Parse([.. record, 0]));
        var newer = record.ToArray();
        newer[1] = RecordLayout.AcceptedVersion + 1;
        Assert.Throws<InvalidDataException>(() => AcceptedView.Parse(newer));
    }

    [Fact]
    public void Chunk_and_done_layouts()
    {
        Span<byte> prefix = stackalloc byte[RecordLayout.ChunkPrefixSize];
        RecordLayout.WriteChunkPrefix(prefix, 42, 3);
        Assert.Equal([64, 1, 42, 0, 0, 0, 0, 0, 0, 0, 3, 0], prefix.ToArray());
        // One chunk entry (our prefix + payload + FASTER's 12-byte header) fills a 64 KiB buffer exactly.
        Assert.Equal(65536, RecordLayout.ChunkPrefixSize + RecordLayout.ChunkCapacity(65536) + RecordLayout.FasterEntryHeaderSize);

        var done = new byte[RecordLayout.DoneSize];
        RecordLayout.WriteDone(done, 42, DoneReason.DeletedByOperator, DateTimeOffset.FromUnixTimeMilliseconds(5));
        Assert.Equal([5, 1, 42, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0], done);

        var startup = new byte[RecordLayout.StartupSize];
        RecordLayout.WriteStartup(startup, 0x0102030405);
        Assert.Equal([10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 5, 4, 3, 2, 1, 0, 0, 0], startup);
        Assert.Equal(0x0102030405, RecordLayout.ReadStartup(startup));
        // A chunk entry ends after FASTER's header, our prefix and the payload.
        Assert.Equal(1000 + 12 + 12 + 500, RecordLayout.ChunkEnd(new BodyChunk(1000, 500)));
    }

    [Theory]
    [InlineData("0123456789abcdef", true, 0x0123456789abcdefUL)]
    [InlineData("0123456789ABCDEF", true, 0x0123456789abcdefUL)]
    [InlineData("0000000000000001", true, 1UL)]
    [InlineData("123", false, 0UL)]
    [InlineData("0123456789abcdeg", false, 0UL)]
    [InlineData("0x23456789abcdef", false, 0UL)]
    [InlineData("", false, 0UL)]
    public void MessageId_parses_its_printed_form(string text, bool ok, ulong value)
    {
        Assert.Equal(ok, MessageId.TryParse(text, out var id));
        Assert.Equal(value, id.Value);
        if (ok)
            Assert.Equal(text.ToLowerInvariant(), id.ToString());
    }

    [Fact]
    public void Envelope_builder_is_reusable()
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSender("first@example.org"u8, false, false);
        for (int i = 0; i < 200; i++)
            envelope.AddRecipient(Encoding.ASCII.GetBytes($"r{i}@example.net"), RecipientRoute.Remote);
        Assert.Equal(200, envelope.RecipientCount);
        envelope.Reset();
        Assert.Equal(0, envelope.RecipientCount);
        envelope.SetSender("second@example.org"u8, false, false);
        envelope.AddRecipient("x@example.net"u8, RecipientRoute.Local);
        var info = AcceptedView.Parse(AcceptedRecord.Create(7, DateTimeOffset.UnixEpoch, 0, [], envelope)).ToInfo();
        Assert.Equal("second@example.org", info.Sender);
        Assert.Equal([new RecipientInfo("x@example.net", RecipientRoute.Local, RecipientState.Queued)], info.Recipients);
    }
}
