using System.Buffers;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>ABNF character classes of RFC 5321 §4.1.2 / §4.1.3 (extended by RFC 6531 §3.3), one SearchValues each.</summary>
internal static class SmtpCharacterClasses
{
    private static ReadOnlySpan<byte> AlphaDigit => "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"u8;

    /// <summary>RFC 5322 §3.2.3 atext, plus "." (Dot-string) and UTF8-non-ascii (RFC 6531 §3.3); UTF-8 validity is checked separately.</summary>
    public static readonly SearchValues<byte> DotStringChars = Create(AlphaDigit, "!#$%&'*+-/=?^_`{|}~."u8, nonAscii: true);

    /// <summary>RFC 5321 §4.1.2 qtextSMTP = %d32-33 / %d35-91 / %d93-126, plus UTF8-non-ascii (RFC 6531 §3.3).</summary>
    public static readonly SearchValues<byte> QtextSmtp = Create(Range(32, 33), Range(35, 91), Range(93, 126), nonAscii: true);

    /// <summary>RFC 5321 §4.1.2 Domain: Let-dig / "-" / "." plus U-label octets (RFC 6531 §3.3); label shape is checked separately.</summary>
    public static readonly SearchValues<byte> DomainChars = Create(AlphaDigit, "-."u8, nonAscii: true);

    /// <summary>RFC 5234 HEXDIG (case-insensitive), for IPv6-hex (RFC 5321 §4.1.3).</summary>
    public static readonly SearchValues<byte> HexDigit = SearchValues.Create("0123456789ABCDEFabcdef"u8);

    /// <summary>RFC 5321 §4.1.2 esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-").</summary>
    public static readonly SearchValues<byte> EsmtpKeywordChars = Create(AlphaDigit, "-"u8, nonAscii: false);

    /// <summary>RFC 5321 §4.1.2 esmtp-value = 1*(%d33-60 / %d62-126), plus UTF8-non-ascii (RFC 6531 §3.3).</summary>
    public static readonly SearchValues<byte> EsmtpValueChars = Create(Range(33, 60), Range(62, 126), [], nonAscii: true);

    /// <summary>RFC 4422 §3.1 sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_"); lower case tolerated.</summary>
    public static readonly SearchValues<byte> SaslMechChars = Create(AlphaDigit, "-_"u8, nonAscii: false);

    /// <summary>RFC 4648 §4 base64 alphabet (padding handled separately), for RFC 4954 initial-response.</summary>
    public static readonly SearchValues<byte> Base64Chars = Create(AlphaDigit, "+/"u8, nonAscii: false);

    private static SearchValues<byte> Create(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, bool nonAscii)
        => Create(a, b, [], nonAscii);

    private static SearchValues<byte> Create(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, bool nonAscii)
    {
        var bytes = new List<byte>(256);
        foreach (byte x in a) bytes.Add(x);
        foreach (byte x in b) bytes.Add(x);
        foreach (byte x in c) bytes.Add(x);
        if (nonAscii)
        {
            for (int x = 0x80; x <= 0xFF; x++) bytes.Add((byte)x);
        }

        return SearchValues.Create(bytes.ToArray());
    }

    private static byte[] Range(int first, int last)
    {
        var bytes = new byte[last - first + 1];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(first + i);
        return bytes;
    }
}
