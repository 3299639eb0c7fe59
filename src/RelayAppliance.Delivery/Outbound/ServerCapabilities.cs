namespace RelayAppliance.Delivery.Outbound;

/// <summary>What the server announced in its EHLO reply (RFC 5321 §4.1.1.1); all false after a HELO fallback.</summary>
internal sealed class ServerCapabilities
{
    public static readonly ServerCapabilities None = new();

    public bool Esmtp { get; private init; }
    /// <summary>RFC 2920.</summary>
    public bool Pipelining { get; private init; }
    /// <summary>RFC 1870 §4: SIZE with its limit; 0 means no limit was declared.</summary>
    public bool Size { get; private init; }
    public long MaxSize { get; private init; }
    /// <summary>RFC 6152.</summary>
    public bool EightBitMime { get; private init; }
    /// <summary>RFC 6531.</summary>
    public bool SmtpUtf8 { get; private init; }
    /// <summary>RFC 3207.</summary>
    public bool StartTls { get; private init; }
    /// <summary>RFC 3030.</summary>
    public bool Chunking { get; private init; }
    /// <summary>RFC 2034.</summary>
    public bool EnhancedStatusCodes { get; private init; }
    /// <summary>RFC 4954 §3 (and the pre-standard "AUTH=" form some servers still send).</summary>
    public bool AuthPlain { get; private init; }
    public bool AuthLogin { get; private init; }

    /// <summary>Parses the EHLO reply lines; the first is the server's domain and greeting.</summary>
    public static ServerCapabilities Parse(IReadOnlyList<string> lines)
    {
        bool pipelining = false, size = false, eightBit = false, utf8 = false, startTls = false, chunking = false;
        bool enhanced = false, plain = false, login = false;
        long maxSize = 0;
        for (var i = 1; i < lines.Count; i++)
        {
            // RFC 5321 §4.1.1.1: ehlo-line = ehlo-keyword *( SP ehlo-param ); keywords are case-insensitive.
            var parts = lines[i].Split([' ', '='], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0)
            {
                continue;
            }
            switch (parts[0].ToUpperInvariant())
            {
                case "PIPELINING": pipelining = true; break;
                case "8BITMIME": eightBit = true; break;
                case "SMTPUTF8": utf8 = true; break;
                case "STARTTLS": startTls = true; break;
                case "CHUNKING": chunking = true; break;
                case "ENHANCEDSTATUSCODES": enhanced = true; break;
                case "SIZE":
                    size = true;
                    if (parts.Length > 1 && long.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var limit))
                    {
                        maxSize = limit;
                    }
                    break;
                case "AUTH":
                    foreach (var mechanism in parts.AsSpan(1))
                    {
                        plain |= mechanism.Equals("PLAIN", StringComparison.OrdinalIgnoreCase);
                        login |= mechanism.Equals("LOGIN", StringComparison.OrdinalIgnoreCase);
                    }
                    break;
            }
        }
        return new ServerCapabilities
        {
            Esmtp = true, Pipelining = pipelining, Size = size, MaxSize = maxSize, EightBitMime = eightBit, SmtpUtf8 = utf8,
            StartTls = startTls, Chunking = chunking, EnhancedStatusCodes = enhanced, AuthPlain = plain, AuthLogin = login,
        };
    }
}
