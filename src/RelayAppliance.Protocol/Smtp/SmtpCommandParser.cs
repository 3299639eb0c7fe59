using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;
using static RelayAppliance.Protocol.Smtp.SmtpCharacterClasses;

namespace RelayAppliance.Protocol.Smtp;

/// <summary>
/// Allocation-free parsers for SMTP command lines (the line without its CRLF). Results are ranges into the
/// argument span, so nothing is copied until the server accepts a value.
/// </summary>
public static partial class SmtpCommandParser
{
    private const byte Sp = (byte)' ';

    // Four ASCII letters read little-endian; the input is folded with | 0x20202020, which maps only 'A'..'Z' onto 'a'..'z'.
    private const uint Helo = 'h' | 'e' << 8 | 'l' << 16 | 'o' << 24;
    private const uint Ehlo = 'e' | 'h' << 8 | 'l' << 16 | 'o' << 24;
    private const uint Mail = 'm' | 'a' << 8 | 'i' << 16 | 'l' << 24;
    private const uint Rcpt = 'r' | 'c' << 8 | 'p' << 16 | 't' << 24;
    private const uint Data = 'd' | 'a' << 8 | 't' << 16 | 'a' << 24;
    private const uint Bdat = 'b' | 'd' << 8 | 'a' << 16 | 't' << 24;
    private const uint Rset = 'r' | 's' << 8 | 'e' << 16 | 't' << 24;
    private const uint Noop = 'n' | 'o' << 8 | 'o' << 16 | 'p' << 24;
    private const uint Quit = 'q' | 'u' << 8 | 'i' << 16 | 't' << 24;
    private const uint Vrfy = 'v' | 'r' << 8 | 'f' << 16 | 'y' << 24;
    private const uint Expn = 'e' | 'x' << 8 | 'p' << 16 | 'n' << 24;
    private const uint Help = 'h' | 'e' << 8 | 'l' << 16 | 'p' << 24;
    private const uint Auth = 'a' | 'u' << 8 | 't' << 16 | 'h' << 24;
    private const uint Star = 's' | 't' << 8 | 'a' << 16 | 'r' << 24;
    private const uint Ttls = 't' | 't' << 8 | 'l' << 16 | 's' << 24;
    private const uint FoldCase = 0x20202020;

    /// <summary>Verb from the first word (case-insensitive); arguments are what follows the separating space.</summary>
    /// <remarks>RFC 5321 §4.1.1: the verb is followed by SP or the end of the line; anything else is an unknown command.</remarks>
    public static SmtpVerb ParseVerb(ReadOnlySpan<byte> line, out ReadOnlySpan<byte> arguments)
    {
        arguments = default;
        if (line.Length < 4)
        {
            return SmtpVerb.Unknown;
        }

        uint word = BinaryPrimitives.ReadUInt32LittleEndian(line) | FoldCase;
        SmtpVerb verb = word switch
        {
            Helo => SmtpVerb.Helo,
            Ehlo => SmtpVerb.Ehlo,
            Mail => SmtpVerb.Mail,
            Rcpt => SmtpVerb.Rcpt,
            Data => SmtpVerb.Data,
            Bdat => SmtpVerb.Bdat,
            Rset => SmtpVerb.Rset,
            Noop => SmtpVerb.Noop,
            Quit => SmtpVerb.Quit,
            Vrfy => SmtpVerb.Vrfy,
            Expn => SmtpVerb.Expn,
            Help => SmtpVerb.Help,
            Auth => SmtpVerb.Auth,
            Star => SmtpVerb.StartTls,
            _ => SmtpVerb.Unknown,
        };

        int verbLength = 4;
        if (verb == SmtpVerb.StartTls)
        {
            // "STARTTLS" is the only 8-letter verb (RFC 3207 §4).
            if (line.Length < 8 || (BinaryPrimitives.ReadUInt32LittleEndian(line[4..]) | FoldCase) != Ttls)
            {
                return SmtpVerb.Unknown;
            }

            verbLength = 8;
        }

        if (verb == SmtpVerb.Unknown)
        {
            return SmtpVerb.Unknown;
        }

        if (line.Length == verbLength)
        {
            return verb;
        }

        if (line[verbLength] != Sp)
        {
            return SmtpVerb.Unknown;
        }

        arguments = line[(verbLength + 1)..];
        return verb;
    }

    /// <summary>"FROM:" Reverse-path [SP Mail-parameters]; utf8 allowed in the address only with SMTPUTF8.</summary>
    /// <remarks>RFC 5321 §4.1.1.2 and §4.1.2; SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8 (RFC 6531 §3.4).</remarks>
    public static SmtpArgumentError TryParseMailFrom(ReadOnlySpan<byte> arguments, out MailFromCommand command)
    {
        command = default;
        if (!TrySkipCommandPrefix(arguments, "FROM:"u8, out int pos))
        {
            return SmtpArgumentError.Syntax;
        }

        SmtpArgumentError error = TryReadPath(arguments, ref pos, allowNullPath: true, allowPostmaster: false, out PathInfo path);
        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        long size = -1;
        BodyType body = BodyType.Unspecified;
        bool smtpUtf8 = false;
        while (TryNextParameter(arguments, ref pos, out error, out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue))
        {
            if (Ascii.EqualsIgnoreCase(keyword, "SIZE"u8))
            {
                // RFC 1870 §3: size-value = 1*20DIGIT.
                if (size >= 0) return SmtpArgumentError.Syntax;
                if (!hasValue || !TryParseDecimal(value, out size)) return SmtpArgumentError.BadSize;
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "BODY"u8))
            {
                // RFC 6152 §2: body-value = "7BIT" / "8BITMIME".
                if (body != BodyType.Unspecified) return SmtpArgumentError.Syntax;
                if (hasValue && Ascii.EqualsIgnoreCase(value, "7BIT"u8)) body = BodyType.SevenBit;
                else if (hasValue && Ascii.EqualsIgnoreCase(value, "8BITMIME"u8)) body = BodyType.EightBitMime;
                else return SmtpArgumentError.BadBodyType;
            }
            else if (Ascii.EqualsIgnoreCase(keyword, "SMTPUTF8"u8))
            {
                // RFC 6531 §3.4: SMTPUTF8 takes no value.
                if (smtpUtf8 || hasValue) return SmtpArgumentError.Syntax;
                smtpUtf8 = true;
            }
            else
            {
                return SmtpArgumentError.UnknownParameter;
            }
        }

        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        error = CheckUtf8(arguments, path, smtpUtf8);
        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        command = new MailFromCommand
        {
            Address = path.Address,
            IsNullPath = path.IsNull,
            DeclaredSize = size,
            Body = body,
            SmtpUtf8 = smtpUtf8,
            LocalPart = path.LocalPart,
            Domain = path.Domain,
            LocalPartQuoted = path.LocalPartQuoted,
            HadSourceRoute = path.HadSourceRoute,
        };
        return SmtpArgumentError.None;
    }

    /// <summary>"TO:" ( "&lt;Postmaster@" Domain "&gt;" / "&lt;Postmaster&gt;" / Forward-path ) [SP Rcpt-parameters].</summary>
    /// <remarks>RFC 5321 §4.1.1.3. No RCPT parameters are advertised, so any parameter is refused.</remarks>
    public static SmtpArgumentError TryParseRcptTo(ReadOnlySpan<byte> arguments, bool smtpUtf8, out RcptToCommand command)
    {
        command = default;
        if (!TrySkipCommandPrefix(arguments, "TO:"u8, out int pos))
        {
            return SmtpArgumentError.Syntax;
        }

        SmtpArgumentError error = TryReadPath(arguments, ref pos, allowNullPath: false, allowPostmaster: true, out PathInfo path);
        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        if (TryNextParameter(arguments, ref pos, out error, out _, out _, out _))
        {
            return SmtpArgumentError.UnknownParameter;
        }

        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        error = CheckUtf8(arguments, path, smtpUtf8);
        if (error != SmtpArgumentError.None)
        {
            return error;
        }

        command = new RcptToCommand
        {
            Address = path.Address,
            LocalPart = path.LocalPart,
            Domain = path.Domain,
            LocalPartQuoted = path.LocalPartQuoted,
            HadSourceRoute = path.HadSourceRoute,
        };
        return SmtpArgumentError.None;
    }

    /// <summary>RFC 3030: chunk-size [SP "LAST"].</summary>
    /// <remarks>RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT; end-marker = "LAST".</remarks>
    public static SmtpArgumentError TryParseBdat(ReadOnlySpan<byte> arguments, out long chunkSize, out bool last)
    {
        chunkSize = 0;
        last = false;
        ReadOnlySpan<byte> args = arguments.TrimEnd(Sp);
        int digits = args.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        if (digits < 0)
        {
            digits = args.Length;
        }

        if (!TryParseDecimal(args[..digits], out long size))
        {
            return SmtpArgumentError.Syntax;
        }

        ReadOnlySpan<byte> rest = args[digits..];
        if (!rest.IsEmpty)
        {
            if (rest.Length != 5 || rest[0] != Sp || !Ascii.EqualsIgnoreCase(rest[1..], "LAST"u8))
            {
                return SmtpArgumentError.Syntax;
            }

            last = true;
        }

        chunkSize = size;
        return SmtpArgumentError.None;
    }

    /// <summary>RFC 4954: mechanism [SP initial-response]; initialResponse is a range into arguments (may be "=").</summary>
    /// <remarks>
    /// A well-formed but unsupported mechanism returns None with <see cref="AuthMechanism.Unknown"/> (the server replies 504);
    /// Syntax is for a malformed name or response. initialResponse is empty when absent; it is not decoded here.
    /// </remarks>
    public static SmtpArgumentError TryParseAuth(ReadOnlySpan<byte> arguments, out AuthMechanism mechanism, out Range initialResponse)
    {
        mechanism = AuthMechanism.Unknown;
        initialResponse = default;
        ReadOnlySpan<byte> args = arguments.TrimEnd(Sp);
        int space = args.IndexOf(Sp);
        ReadOnlySpan<byte> name = space < 0 ? args : args[..space];

        // RFC 4422 §3.1: sasl-mech = 1*20 (UPPER-ALPHA / DIGIT / "-" / "_").
        if (name.IsEmpty || name.Length > 20 || name.ContainsAnyExcept(SaslMechChars))
        {
            return SmtpArgumentError.Syntax;
        }

        if (space >= 0)
        {
            // RFC 4954 §4: initial-response = base64 / "=".
            ReadOnlySpan<byte> response = args[(space + 1)..];
            if (!IsInitialResponse(response))
            {
                return SmtpArgumentError.Syntax;
            }

            initialResponse = new Range(space + 1, args.Length);
        }

        mechanism = Ascii.EqualsIgnoreCase(name, "PLAIN"u8) ? AuthMechanism.Plain
            : Ascii.EqualsIgnoreCase(name, "LOGIN"u8) ? AuthMechanism.Login
            : AuthMechanism.Unknown;
        return SmtpArgumentError.None;
    }

    /// <summary>HELO/EHLO argument: a domain or address literal.</summary>
    /// <remarks>
    /// RFC 5321 §4.1.1.1 asks for a Domain or address-literal, but like Postfix we accept any single token of printable
    /// ASCII: real clients send underscores, bare hostnames and unbracketed IPs, and the name is only informational.
    /// Surrounding spaces are ignored; an empty argument or a second word is a syntax error.
    /// </remarks>
    public static SmtpArgumentError TryParseHelo(ReadOnlySpan<byte> arguments, out Range domain)
    {
        domain = default;
        int start = arguments.IndexOfAnyExcept(Sp);
        if (start < 0)
        {
            return SmtpArgumentError.Syntax;
        }

        int end = arguments.LastIndexOfAnyExcept(Sp) + 1;
        if (arguments[start..end].IndexOfAnyExceptInRange((byte)0x21, (byte)0x7E) >= 0)
        {
            return SmtpArgumentError.Syntax;
        }

        domain = new Range(start, end);
        return SmtpArgumentError.None;
    }

    // "FROM:" / "TO:" case-insensitively, then one optional space: many clients send "MAIL FROM: <a@b>".
    private static bool TrySkipCommandPrefix(ReadOnlySpan<byte> arguments, ReadOnlySpan<byte> prefix, out int pos)
    {
        pos = prefix.Length;
        if (arguments.Length < prefix.Length || !Ascii.EqualsIgnoreCase(arguments[..prefix.Length], prefix))
        {
            return false;
        }

        if (pos < arguments.Length && arguments[pos] == Sp)
        {
            pos++;
        }

        return true;
    }

    // RFC 6531 §3.3: non-ASCII in a path needs SMTPUTF8 on MAIL; it must then be well-formed UTF-8.
    private static SmtpArgumentError CheckUtf8(ReadOnlySpan<byte> arguments, in PathInfo path, bool smtpUtf8)
    {
        ReadOnlySpan<byte> text = arguments[path.Whole];
        if (Ascii.IsValid(text))
        {
            return SmtpArgumentError.None;
        }

        if (!smtpUtf8)
        {
            return SmtpArgumentError.Utf8NotPermitted;
        }

        return Utf8.IsValid(text) ? SmtpArgumentError.None : SmtpArgumentError.BadAddress;
    }

    /// <summary>
    /// RFC 5321 §4.1.2 Mail-parameters / Rcpt-parameters: esmtp-param *(SP esmtp-param). Returns false at the end of
    /// the line (error None) or on a malformed parameter (error set). Extra and trailing spaces are tolerated.
    /// </summary>
    private static bool TryNextParameter(ReadOnlySpan<byte> s, ref int pos, out SmtpArgumentError error,
        out ReadOnlySpan<byte> keyword, out ReadOnlySpan<byte> value, out bool hasValue)
    {
        keyword = default;
        value = default;
        hasValue = false;
        error = SmtpArgumentError.None;
        if (pos >= s.Length)
        {
            return false;
        }

        if (s[pos] != Sp)
        {
            error = SmtpArgumentError.Syntax;
            return false;
        }

        int start = s[pos..].IndexOfAnyExcept(Sp);
        if (start < 0)
        {
            pos = s.Length;
            return false;
        }

        pos += start;

        // esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
        int keywordLength = IndexOrLength(s[pos..], s[pos..].IndexOfAnyExcept(EsmtpKeywordChars));
        keyword = s.Slice(pos, keywordLength);
        pos += keywordLength;
        if (keyword.IsEmpty || keyword[0] == (byte)'-')
        {
            error = SmtpArgumentError.Syntax;
            return false;
        }

        if (pos < s.Length && s[pos] == (byte)'=')
        {
            // esmtp-value = 1*(%d33-60 / %d62-126)
            pos++;
            int valueLength = IndexOrLength(s[pos..], s[pos..].IndexOfAnyExcept(EsmtpValueChars));
            value = s.Slice(pos, valueLength);
            pos += valueLength;
            hasValue = true;
            if (value.IsEmpty)
            {
                error = SmtpArgumentError.Syntax;
                return false;
            }
        }

        if (pos < s.Length && s[pos] != Sp)
        {
            error = SmtpArgumentError.Syntax;
            return false;
        }

        return true;
    }

    // 1*19DIGIT without sign or overflow; longer values cannot fit a long.
    private static bool TryParseDecimal(ReadOnlySpan<byte> digits, out long value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > 19 || digits.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            return false;
        }

        ulong result = 0;
        foreach (byte digit in digits)
        {
            result = result * 10 + (uint)(digit - '0');
        }

        if (result > long.MaxValue)
        {
            return false;
        }

        value = (long)result;
        return true;
    }

    // RFC 4954 §4: "=" alone is an empty response; otherwise base64 with at most two trailing "=".
    private static bool IsInitialResponse(ReadOnlySpan<byte> response)
    {
        if (response.Length == 1 && response[0] == (byte)'=')
        {
            return true;
        }

        ReadOnlySpan<byte> data = response.TrimEnd((byte)'=');
        return !data.IsEmpty && response.Length - data.Length <= 2 && !data.ContainsAnyExcept(Base64Chars);
    }

    private static int IndexOrLength(ReadOnlySpan<byte> span, int index) => index < 0 ? span.Length : index;
}
