using System.Buffers;
using System.Buffers.Binary;
using System.Text.Unicode;
using RelayAppliance.Spool.Records;

namespace RelayAppliance.Spool;

/// <summary>
/// The envelope of one transaction, built without per-command allocations; one instance per session, reused.
/// </summary>
/// <remarks>
/// The bytes are kept already in the journal's Accepted layout (RecordLayout.cs), so accepting a message is one
/// copy into the record. Buffers only grow; a session that has seen 100 recipients keeps room for 100. They are
/// rented from the shared pool, so that a connection per message does not allocate them each time; call
/// <see cref="Release"/> when the session ends.
/// </remarks>
public sealed class EnvelopeBuilder
{
    private byte[] _sender = ArrayPool<byte>.Shared.Rent(256);
    private int _senderLength;
    private byte[] _recipients = ArrayPool<byte>.Shared.Rent(1024);
    private int _recipientsLength;
    private int _recipientCount;
    private AcceptedFlags _transactionFlags;
    private AcceptedFlags _sessionFlags;
    private static readonly byte[] NoSession = EncodeSession(string.Empty, string.Empty, null);
    private byte[] _session = NoSession; // never written to: shared until SetSession

    /// <summary>Returns the buffers to the pool; the builder must not be used afterwards.</summary>
    public void Release()
    {
        Reset();
        if (_sender.Length == 0)
            return; // released already
        ArrayPool<byte>.Shared.Return(_sender);
        ArrayPool<byte>.Shared.Return(_recipients);
        _sender = _recipients = [];
    }

    /// <summary>Forgets sender and recipients (RSET, end of transaction); the session facts stay.</summary>
    public void Reset()
    {
        _senderLength = 0;
        _recipientsLength = 0;
        _recipientCount = 0;
        _transactionFlags = AcceptedFlags.None;
    }

    public void SetSender(ReadOnlySpan<byte> addressUtf8, bool smtpUtf8, bool eightBitMime)
    {
        CheckLength(addressUtf8);
        EnsureCapacity(ref _sender, addressUtf8.Length);
        addressUtf8.CopyTo(_sender);
        _senderLength = addressUtf8.Length;
        _transactionFlags = (smtpUtf8 ? AcceptedFlags.SmtpUtf8 : 0) | (eightBitMime ? AcceptedFlags.EightBitMime : 0);
    }

    public void AddRecipient(ReadOnlySpan<byte> addressUtf8, RecipientRoute route)
    {
        CheckLength(addressUtf8);
        EnsureCapacity(ref _recipients, _recipientsLength + 4 + addressUtf8.Length);
        var entry = _recipients.AsSpan(_recipientsLength);
        entry[0] = (byte)route;
        entry[1] = (byte)RecipientState.Queued;
        BinaryPrimitives.WriteUInt16LittleEndian(entry[2..], (ushort)addressUtf8.Length);
        addressUtf8.CopyTo(entry[4..]);
        _recipientsLength += 4 + addressUtf8.Length;
        _recipientCount++;
    }

    public int RecipientCount => _recipientCount;

    /// <summary>The reverse-path of the current transaction (empty for the null sender &lt;&gt;).</summary>
    public ReadOnlySpan<byte> Sender => _sender.AsSpan(0, _senderLength);

    /// <summary>Facts about the session for the trace and queue listing; set once per session (or after STARTTLS/AUTH).</summary>
    public void SetSession(string clientAddress, string helo, string? authenticatedUser, bool tls)
    {
        ArgumentNullException.ThrowIfNull(clientAddress);
        ArgumentNullException.ThrowIfNull(helo);
        _session = EncodeSession(clientAddress, helo, authenticatedUser);
        _sessionFlags = (tls ? AcceptedFlags.Tls : 0) | (authenticatedUser is null ? 0 : AcceptedFlags.HasAuthUser);
    }

    internal ReadOnlySpan<byte> SenderBytes => _sender.AsSpan(0, _senderLength);
    internal ReadOnlySpan<byte> RecipientBytes => _recipients.AsSpan(0, _recipientsLength);
    internal ReadOnlySpan<byte> SessionBytes => _session;
    internal AcceptedFlags Flags => _transactionFlags | _sessionFlags;

    private static byte[] EncodeSession(string clientAddress, string helo, string? authenticatedUser)
    {
        // Per session, not per message; but at one message per connection that is twice per message (greeting, HELO),
        // so one allocation for the three fields.
        Span<byte> scratch = stackalloc byte[3 * MaxField];
        var client = EncodeCapped(clientAddress, scratch[..MaxField]);
        var heloBytes = EncodeCapped(helo, scratch.Slice(MaxField, MaxField));
        var auth = EncodeCapped(authenticatedUser ?? string.Empty, scratch[(2 * MaxField)..]);
        var session = new byte[6 + client.Length + heloBytes.Length + auth.Length];
        var at = PutField(session, 0, client);
        at = PutField(session, at, heloBytes);
        PutField(session, at, auth);
        return session;
    }

    // HELO text is client-controlled and only informational: cap it instead of failing the session. The cap falls
    // on a character boundary, so the stored text stays valid UTF-8.
    private static ReadOnlySpan<byte> EncodeCapped(string value, Span<byte> destination)
    {
        Utf8.FromUtf16(value, destination, out _, out var written);
        return destination[..written];
    }

    private static int PutField(byte[] session, int at, ReadOnlySpan<byte> field)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(session.AsSpan(at), (ushort)field.Length);
        field.CopyTo(session.AsSpan(at + 2));
        return at + 2 + field.Length;
    }

    private const int MaxField = 1024;

    private static void CheckLength(ReadOnlySpan<byte> address)
    {
        // RFC 5321 §4.5.3.1.3 caps a path at 256 octets; the parser enforces that. This only protects the u16 length.
        if (address.Length > ushort.MaxValue)
            throw new ArgumentException("Address too long.", nameof(address));
    }

    private static void EnsureCapacity(ref byte[] buffer, int needed)
    {
        if (buffer.Length >= needed)
            return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, buffer.Length * 2));
        buffer.CopyTo(larger, 0);
        ArrayPool<byte>.Shared.Return(buffer);
        buffer = larger;
    }
}
