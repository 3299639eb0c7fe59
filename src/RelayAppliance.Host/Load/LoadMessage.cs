using System.Text;

namespace RelayAppliance.Host.Load;

/// <summary>The wire bytes of the one message every transaction sends, built once before the run.</summary>
internal sealed class LoadMessage
{
    public LoadMessage(LoadOptions options)
    {
        MailFrom = Encoding.ASCII.GetBytes($"MAIL FROM:<{options.From}> BODY=7BIT\r\n");
        var at = options.To.LastIndexOf('@');
        _rcpt = new byte[options.Recipients][];
        for (var i = 0; i < options.Recipients; i++)
        {
            var address = i == 0 ? options.To : $"{options.To[..at]}+{i + 1}{options.To[at..]}";
            _rcpt[i] = Encoding.ASCII.GetBytes($"RCPT TO:<{address}>\r\n");
        }
        Ehlo = Encoding.ASCII.GetBytes($"EHLO {options.Helo}\r\n");
        Envelope = [.. MailFrom, .. _rcpt.SelectMany(r => r), .. "DATA\r\n"u8];
        if (options.Credentials is { } credentials)
        {
            // RFC 4616: authzid NUL authcid NUL passwd, base64, sent with the command (RFC 4954 initial response).
            var plain = Encoding.UTF8.GetBytes($"\0{credentials.User}\0{credentials.Password}");
            AuthPlain = Encoding.ASCII.GetBytes($"AUTH PLAIN {Convert.ToBase64String(plain)}\r\n");
        }
        _distribution = options.SizeDistribution;
        _bodies = _distribution is null ? [BuildBody(options, options.Size)] : [.. _distribution.Buckets.Select(b => BuildBody(options, b.Size))];
    }

    private readonly SizeDistribution? _distribution;
    // One pre-built body per size (one without --size-dist); messages share them, nothing is built per message.
    private readonly byte[][] _bodies;
    private long _messageNumber;

    public static ReadOnlyMemory<byte> StartTls { get; } = "STARTTLS\r\n"u8.ToArray();
    public static ReadOnlyMemory<byte> Data { get; } = "DATA\r\n"u8.ToArray();
    public static ReadOnlyMemory<byte> Rset { get; } = "RSET\r\n"u8.ToArray();
    public static ReadOnlyMemory<byte> Quit { get; } = "QUIT\r\n"u8.ToArray();

    public byte[] Ehlo { get; }
    /// <summary>With --auth: the AUTH PLAIN command with its initial response.</summary>
    public byte[]? AuthPlain { get; }
    public byte[] MailFrom { get; }
    private readonly byte[][] _rcpt;

    public int RecipientCount => _rcpt.Length;
    public byte[] Rcpt(int index) => _rcpt[index];
    /// <summary>MAIL, RCPTs and DATA for a pipelined write (RFC 2920 §3.1: DATA may end the group).</summary>
    public byte[] Envelope { get; }
    /// <summary>Headers and 7-bit body, exactly --size bytes, then CRLF.CRLF (not counted in the size).</summary>
    public byte[] Body => _bodies[0];

    /// <summary>The body of the next message: --size's, or one drawn from --size-dist by message number.</summary>
    public byte[] NextBody() =>
        _distribution is null ? _bodies[0] : _bodies[_distribution.Choose(Interlocked.Increment(ref _messageNumber))];

    private static byte[] BuildBody(LoadOptions options, int requestedSize)
    {
        var header = Encoding.ASCII.GetBytes(
            $"From: <{options.From}>\r\nTo: <{options.To}>\r\nSubject: relayd load\r\nMessage-ID: <load@loadgen.test>\r\n" +
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
        // A 1-byte remainder cannot be a CRLF-ended line, so such a size grows by one byte.
        var size = Math.Max(requestedSize, header.Length + 2);
        size += (size - header.Length) == 1 ? 1 : 0;
        var body = new byte[size + 3];
        header.CopyTo(body, 0);
        // Filler lines of up to 76 letters and CRLF (no leading dot, so nothing to stuff); never leave a 1-byte tail.
        var position = header.Length;
        while (position < size)
        {
            var remaining = size - position;
            var length = Math.Min(78, remaining);
            length -= (remaining - length) == 1 ? 1 : 0;
            for (var i = 0; i < length - 2; i++)
            {
                body[position + i] = (byte)('a' + (i % 26));
            }
            body[position + length - 2] = (byte)'\r';
            body[position + length - 1] = (byte)'\n';
            position += length;
        }
        ".\r\n"u8.CopyTo(body.AsSpan(size));
        return body;
    }
}
