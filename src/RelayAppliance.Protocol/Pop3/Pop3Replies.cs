using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace RelayAppliance.Protocol.Pop3;

/// <summary>
/// Pre-encoded POP3 replies (RFC 1939 §3: "+OK" / "-ERR" then text) with RFC 2449 §8 response codes: [IN-USE] and
/// [LOGIN-DELAY] from RFC 2449, [SYS/TEMP], [SYS/PERM] and [AUTH] from RFC 3206. The capability list (it depends on
/// TLS and policy) is built by the server; replies with numbers are written by the Write* methods without allocating.
/// </summary>
public static class Pop3Replies
{
    // +OK
    public static ReadOnlySpan<byte> Greeting => "+OK POP3 server ready\r\n"u8;
    public static ReadOnlySpan<byte> Ok => "+OK\r\n"u8;
    public static ReadOnlySpan<byte> UserAccepted => "+OK send PASS\r\n"u8;
    public static ReadOnlySpan<byte> LoggedIn => "+OK maildrop locked and ready\r\n"u8;
    public static ReadOnlySpan<byte> MessageDeleted => "+OK message deleted\r\n"u8;
    public static ReadOnlySpan<byte> Reset => "+OK deletion marks removed\r\n"u8;
    public static ReadOnlySpan<byte> Bye => "+OK bye\r\n"u8;
    public static ReadOnlySpan<byte> BeginTls => "+OK begin TLS negotiation\r\n"u8;
    public static ReadOnlySpan<byte> MessageFollows => "+OK message follows\r\n"u8;
    public static ReadOnlySpan<byte> UniqueIdListingFollows => "+OK unique-id listing follows\r\n"u8;
    /// <summary>AUTH without a mechanism: the SASL mechanisms, one per line (as Dovecot answers older clients).</summary>
    public static ReadOnlySpan<byte> SaslMechanisms => "+OK\r\nPLAIN\r\n.\r\n"u8;
    /// <summary>RFC 5034 §4: an empty server challenge.</summary>
    public static ReadOnlySpan<byte> SaslContinue => "+ \r\n"u8;
    /// <summary>RFC 1939 §3: a multi-line response ends with "." CRLF.</summary>
    public static ReadOnlySpan<byte> EndOfMultiline => ".\r\n"u8;

    // -ERR: command errors
    public static ReadOnlySpan<byte> UnknownCommand => "-ERR unknown command\r\n"u8;
    public static ReadOnlySpan<byte> SyntaxError => "-ERR syntax error in arguments\r\n"u8;
    public static ReadOnlySpan<byte> LineTooLong => "-ERR line too long\r\n"u8;
    public static ReadOnlySpan<byte> BareCarriageReturn => "-ERR bare CR in command line\r\n"u8;
    public static ReadOnlySpan<byte> BadSequence => "-ERR command not valid in this state\r\n"u8;
    public static ReadOnlySpan<byte> NoSuchMessage => "-ERR no such message\r\n"u8;
    public static ReadOnlySpan<byte> MessageAlreadyDeleted => "-ERR message already deleted\r\n"u8;
    public static ReadOnlySpan<byte> TooManyErrors => "-ERR too many errors, closing connection\r\n"u8;
    public static ReadOnlySpan<byte> TlsNotAvailable => "-ERR STLS not available\r\n"u8;
    public static ReadOnlySpan<byte> AlreadyTls => "-ERR already using TLS\r\n"u8;
    public static ReadOnlySpan<byte> UnsupportedMechanism => "-ERR unsupported authentication mechanism\r\n"u8;
    public static ReadOnlySpan<byte> AuthCancelled => "-ERR authentication cancelled\r\n"u8;
    public static ReadOnlySpan<byte> CannotDecodeResponse => "-ERR cannot decode response\r\n"u8;
    /// <summary>RFC 2595 §4 and RFC 5034 §4: plaintext credentials are refused until STLS.</summary>
    public static ReadOnlySpan<byte> PlaintextAuthDisallowed => "-ERR plaintext authentication disallowed without TLS, use STLS\r\n"u8;

    // -ERR with response codes
    /// <summary>RFC 3206 §4: the credentials are wrong (never says which part).</summary>
    public static ReadOnlySpan<byte> AuthFailed => "-ERR [AUTH] invalid user name or password\r\n"u8;
    /// <summary>RFC 3206 §4 [AUTH]: too many failures from this client address; try later.</summary>
    public static ReadOnlySpan<byte> TooManyFailedLogins => "-ERR [AUTH] too many failed logins, try again later\r\n"u8;
    /// <summary>RFC 2449 §8.1.1: another session holds the maildrop.</summary>
    public static ReadOnlySpan<byte> MaildropInUse => "-ERR [IN-USE] maildrop already locked by another session\r\n"u8;
    /// <summary>RFC 3206 §5: the store could not open the maildrop.</summary>
    public static ReadOnlySpan<byte> MaildropUnavailable => "-ERR [SYS/TEMP] maildrop unavailable, try again later\r\n"u8;
    /// <summary>RFC 1939 §6 QUIT: the deletions could not be made durable; nothing was removed.</summary>
    public static ReadOnlySpan<byte> CommitFailed => "-ERR [SYS/TEMP] could not remove deleted messages, try again later\r\n"u8;
    public static ReadOnlySpan<byte> ReadFailed => "-ERR [SYS/TEMP] could not read the message, try again later\r\n"u8;
    public static ReadOnlySpan<byte> TooManyConnections => "-ERR [SYS/TEMP] too many connections, try again later\r\n"u8;
    public static ReadOnlySpan<byte> ShuttingDown => "-ERR [SYS/TEMP] server shutting down\r\n"u8;

    /// <summary>The reply for a refused command line; <see cref="Pop3CommandError.None"/> has no reply and throws.</summary>
    public static ReadOnlySpan<byte> ForCommandError(Pop3CommandError error) => error switch
    {
        Pop3CommandError.UnknownCommand => UnknownCommand,
        Pop3CommandError.Syntax => SyntaxError,
        Pop3CommandError.NoSuchMessage => NoSuchMessage,
        _ => ThrowNoReply(error),
    };

    /// <summary>RFC 1939 §5 STAT: "+OK nn mm".</summary>
    public static void WriteStat(IBufferWriter<byte> writer, int count, long octets)
    {
        Span<byte> span = writer.GetSpan(48);
        int n = Copy("+OK "u8, span);
        n += Format(count, span[n..]);
        span[n++] = (byte)' ';
        n += Format(octets, span[n..]);
        n += Copy("\r\n"u8, span[n..]);
        writer.Advance(n);
    }

    /// <summary>RFC 1939 §7 RETR: "+OK nn octets" (the example's wording; the message follows).</summary>
    public static void WriteMessageFollows(IBufferWriter<byte> writer, long octets)
    {
        Span<byte> span = writer.GetSpan(40);
        int n = Copy("+OK "u8, span);
        n += Format(octets, span[n..]);
        n += Copy(" octets\r\n"u8, span[n..]);
        writer.Advance(n);
    }

    /// <summary>RFC 1939 §5 LIST without argument: "+OK nn messages (mm octets)"; the scan listings follow.</summary>
    public static void WriteListHeader(IBufferWriter<byte> writer, int count, long octets)
    {
        Span<byte> span = writer.GetSpan(64);
        int n = Copy("+OK "u8, span);
        n += Format(count, span[n..]);
        n += Copy(" messages ("u8, span[n..]);
        n += Format(octets, span[n..]);
        n += Copy(" octets)\r\n"u8, span[n..]);
        writer.Advance(n);
    }

    /// <summary>RFC 1939 §5 scan listing "msg size"; with <paramref name="ok"/> as the one-line reply "+OK msg size".</summary>
    public static void WriteScanListing(IBufferWriter<byte> writer, int number, long octets, bool ok)
    {
        Span<byte> span = writer.GetSpan(48);
        int n = ok ? Copy("+OK "u8, span) : 0;
        n += Format(number, span[n..]);
        span[n++] = (byte)' ';
        n += Format(octets, span[n..]);
        n += Copy("\r\n"u8, span[n..]);
        writer.Advance(n);
    }

    /// <summary>
    /// RFC 1939 §7 unique-id listing "msg uid"; with <paramref name="ok"/> as the one-line reply "+OK msg uid".
    /// The uid must be 1–70 characters of 0x21–0x7E (RFC 1939 §7); it is written as ASCII.
    /// </summary>
    public static void WriteUniqueIdListing(IBufferWriter<byte> writer, int number, ReadOnlySpan<char> uid, bool ok)
    {
        Span<byte> span = writer.GetSpan(24 + uid.Length);
        int n = ok ? Copy("+OK "u8, span) : 0;
        n += Format(number, span[n..]);
        span[n++] = (byte)' ';
        OperationStatus status = Ascii.FromUtf16(uid, span[n..], out int written);
        if (status != OperationStatus.Done)
        {
            ThrowBadUid();
        }

        n += written;
        n += Copy("\r\n"u8, span[n..]);
        writer.Advance(n);
    }

    private static int Copy(ReadOnlySpan<byte> text, Span<byte> destination)
    {
        text.CopyTo(destination);
        return text.Length;
    }

    private static int Format(long value, Span<byte> destination)
    {
        bool ok = Utf8Formatter.TryFormat(value, destination, out int written);
        Debug.Assert(ok);
        return written;
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowBadUid() => throw new ArgumentException("A unique-id must be printable ASCII (RFC 1939 §7).", "uid");

    [DoesNotReturn]
    [StackTraceHidden]
    private static ReadOnlySpan<byte> ThrowNoReply(Pop3CommandError error)
        => throw new ArgumentOutOfRangeException(nameof(error), error, "No reply for this command error.");
}
