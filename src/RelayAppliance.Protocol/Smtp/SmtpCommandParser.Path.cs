using System.Text;
using static RelayAppliance.Protocol.Smtp.SmtpCharacterClasses;

namespace RelayAppliance.Protocol.Smtp;

public static partial class SmtpCommandParser
{
    // RFC 5321 §4.5.3.1.1 and §4.5.3.1.2.
    private const int MaxLocalPartLength = 64;
    private const int MaxDomainLength = 255;
    // RFC 1035 §2.3.4, for ASCII labels; U-labels are limited in their A-label form, which is not computed here.
    private const int MaxLabelLength = 63;

    private readonly struct PathInfo
    {
        /// <summary>From "&lt;" to "&gt;" inclusive, source route included: the span checked for UTF-8.</summary>
        public Range Whole { get; init; }
        public Range Address { get; init; }
        public Range LocalPart { get; init; }
        public Range Domain { get; init; }
        public bool IsNull { get; init; }
        public bool LocalPartQuoted { get; init; }
        public bool HadSourceRoute { get; init; }
    }

    /// <summary>RFC 5321 §4.1.2 Path = "&lt;" [ A-d-l ":" ] Mailbox "&gt;"; a missing "&lt;" is Syntax, anything wrong inside is BadAddress.</summary>
    private static SmtpArgumentError TryReadPath(ReadOnlySpan<byte> s, ref int pos, bool allowNullPath, bool allowPostmaster, out PathInfo path)
    {
        path = default;
        if (pos >= s.Length || s[pos] != (byte)'<')
        {
            return SmtpArgumentError.Syntax;
        }

        int open = pos++;

        // RFC 5321 §4.1.1.2 Reverse-path = Path / "<>"
        if (allowNullPath && At(s, pos, '>'))
        {
            pos++;
            path = new PathInfo { IsNull = true, Whole = new Range(open, pos), Address = new Range(open + 1, open + 1) };
            return SmtpArgumentError.None;
        }

        bool hadSourceRoute = At(s, pos, '@');
        if (hadSourceRoute && !TrySkipSourceRoute(s, ref pos))
        {
            return SmtpArgumentError.BadAddress;
        }

        // RFC 5321 §4.1.1.3: "<Postmaster>" is the one mailbox without a domain.
        if (allowPostmaster && !hadSourceRoute && s.Length - pos >= 11 && Ascii.EqualsIgnoreCase(s.Slice(pos, 11), "Postmaster>"u8))
        {
            path = new PathInfo
            {
                Whole = new Range(open, pos + 11),
                Address = new Range(pos, pos + 10),
                LocalPart = new Range(pos, pos + 10),
                Domain = new Range(pos + 10, pos + 10),
            };
            pos += 11;
            return SmtpArgumentError.None;
        }

        // RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal )
        int localStart = pos;
        bool quoted = At(s, pos, '"');
        if (!(quoted ? TrySkipQuotedString(s, ref pos) : TrySkipDotString(s, ref pos))
            || pos - localStart > MaxLocalPartLength
            || !At(s, pos, '@'))
        {
            return SmtpArgumentError.BadAddress;
        }

        int localEnd = pos++;
        int domainStart = pos;
        if (!(At(s, pos, '[') ? TrySkipAddressLiteral(s, ref pos) : TrySkipDomain(s, ref pos))
            || pos - domainStart > MaxDomainLength
            || !At(s, pos, '>'))
        {
            return SmtpArgumentError.BadAddress;
        }

        path = new PathInfo
        {
            Whole = new Range(open, pos + 1),
            Address = new Range(localStart, pos),
            LocalPart = new Range(localStart, localEnd),
            Domain = new Range(domainStart, pos),
            LocalPartQuoted = quoted,
            HadSourceRoute = hadSourceRoute,
        };
        pos++;
        return SmtpArgumentError.None;
    }

    // RFC 5321 §4.1.2 A-d-l = At-domain *( "," At-domain ) ":"; At-domain = "@" Domain. Obsolete; parsed and dropped (§C).
    private static bool TrySkipSourceRoute(ReadOnlySpan<byte> s, ref int pos)
    {
        while (true)
        {
            pos++; // "@"
            if (!TrySkipDomain(s, ref pos))
            {
                return false;
            }

            if (At(s, pos, ':'))
            {
                pos++;
                return true;
            }

            if (!At(s, pos, ',') || !At(s, pos + 1, '@'))
            {
                return false;
            }

            pos++;
        }
    }

    // RFC 5321 §4.1.2 Dot-string = Atom *("." Atom); Atom = 1*atext.
    private static bool TrySkipDotString(ReadOnlySpan<byte> s, ref int pos)
    {
        ReadOnlySpan<byte> rest = s[pos..];
        ReadOnlySpan<byte> dotString = rest[..IndexOrLength(rest, rest.IndexOfAnyExcept(DotStringChars))];
        if (dotString.IsEmpty || dotString[0] == (byte)'.' || dotString[^1] == (byte)'.' || dotString.IndexOf(".."u8) >= 0)
        {
            return false;
        }

        pos += dotString.Length;
        return true;
    }

    // RFC 5321 §4.1.2 Quoted-string = DQUOTE *QcontentSMTP DQUOTE; QcontentSMTP = qtextSMTP / quoted-pairSMTP;
    // quoted-pairSMTP = %d92 %d32-126.
    private static bool TrySkipQuotedString(ReadOnlySpan<byte> s, ref int pos)
    {
        int i = pos + 1;
        while (true)
        {
            int run = s[i..].IndexOfAnyExcept(QtextSmtp);
            if (run < 0)
            {
                return false;
            }

            i += run;
            if (s[i] == (byte)'"')
            {
                pos = i + 1;
                return true;
            }

            if (s[i] != (byte)'\\' || i + 1 >= s.Length || s[i + 1] is < 32 or > 126)
            {
                return false;
            }

            i += 2;
        }
    }

    // RFC 5321 §4.1.2 Domain = sub-domain *("." sub-domain); sub-domain = Let-dig [Ldh-str]; Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig.
    // RFC 6531 §3.3 adds U-label; its octets are accepted here and UTF-8 validity is checked for the whole path.
    private static bool TrySkipDomain(ReadOnlySpan<byte> s, ref int pos)
    {
        ReadOnlySpan<byte> rest = s[pos..];
        ReadOnlySpan<byte> domain = rest[..IndexOrLength(rest, rest.IndexOfAnyExcept(DomainChars))];
        if (domain.IsEmpty || domain.Length > MaxDomainLength)
        {
            return false;
        }

        pos += domain.Length;
        while (true)
        {
            int dot = domain.IndexOf((byte)'.');
            ReadOnlySpan<byte> label = dot < 0 ? domain : domain[..dot];
            if (!IsSubDomain(label))
            {
                return false;
            }

            if (dot < 0)
            {
                return true;
            }

            domain = domain[(dot + 1)..];
        }
    }

    private static bool IsSubDomain(ReadOnlySpan<byte> label)
    {
        if (label.IsEmpty || label[0] == (byte)'-' || label[^1] == (byte)'-')
        {
            return false;
        }

        return label.Length <= MaxLabelLength || !Ascii.IsValid(label);
    }

    // RFC 5321 §4.1.3 address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]". General-address-literal
    // needs an IANA-registered tag and none other than IPv6 exists, so it is refused.
    private static bool TrySkipAddressLiteral(ReadOnlySpan<byte> s, ref int pos)
    {
        int close = s[pos..].IndexOf((byte)']');
        if (close < 0)
        {
            return false;
        }

        ReadOnlySpan<byte> literal = s.Slice(pos + 1, close - 1);
        bool valid = literal.Length > 5 && Ascii.EqualsIgnoreCase(literal[..5], "IPv6:"u8)
            ? IsIPv6Address(literal[5..])
            : IsIPv4Address(literal);
        pos += close + 1;
        return valid;
    }

    // RFC 5321 §4.1.3 IPv4-address-literal = Snum 3("." Snum); Snum = 1*3DIGIT representing 0-255.
    private static bool IsIPv4Address(ReadOnlySpan<byte> s)
    {
        for (int part = 0; part < 4; part++)
        {
            int digits = IndexOrLength(s, s.IndexOfAnyExceptInRange((byte)'0', (byte)'9'));
            if (digits is 0 or > 3)
            {
                return false;
            }

            int value = 0;
            foreach (byte digit in s[..digits])
            {
                value = value * 10 + (digit - '0');
            }

            if (value > 255)
            {
                return false;
            }

            s = s[digits..];
            if (part < 3)
            {
                if (s.IsEmpty || s[0] != (byte)'.')
                {
                    return false;
                }

                s = s[1..];
            }
        }

        return s.IsEmpty;
    }

    // RFC 5321 §4.1.3 IPv6-addr: 8 groups of 1-4 hex digits, or fewer with one "::", optionally ending in an IPv4 address
    // (worth two groups). Like RFC 4291 §2.2 we let "::" stand for a single group, which §4.1.3's grammar does not.
    private static bool IsIPv6Address(ReadOnlySpan<byte> s)
    {
        int groups = 0;
        bool compressed = false;
        if (s.StartsWith("::"u8))
        {
            compressed = true;
            s = s[2..];
        }

        while (!s.IsEmpty)
        {
            int colon = s.IndexOf((byte)':');
            ReadOnlySpan<byte> group = colon < 0 ? s : s[..colon];
            if (colon < 0 && group.Contains((byte)'.'))
            {
                if (!IsIPv4Address(group))
                {
                    return false;
                }

                groups += 2;
                break;
            }

            if (group.IsEmpty || group.Length > 4 || group.ContainsAnyExcept(HexDigit))
            {
                return false;
            }

            groups++;
            if (colon < 0)
            {
                break;
            }

            s = s[(colon + 1)..];
            if (s.IsEmpty)
            {
                return false; // trailing single ":"
            }

            if (s[0] == (byte)':')
            {
                if (compressed)
                {
                    return false;
                }

                compressed = true;
                s = s[1..];
            }
        }

        return compressed ? groups <= 7 : groups == 8;
    }

    private static bool At(ReadOnlySpan<byte> s, int pos, char c) => (uint)pos < (uint)s.Length && s[pos] == c;
}
