using System.Globalization;
using System.Text;

namespace RelayAppliance.Delivery.Bounces;

public enum DsnAction : byte { Failed, Delayed }

/// <summary>One recipient's line in a report (RFC 3464 §2.3).</summary>
public sealed record DsnRecipient(string Address, DsnAction Action, string Diagnostic, string? RemoteMta)
{
    /// <summary>For a delayed recipient: when the MTA gives up (RFC 3464 §2.3.8).</summary>
    public DateTimeOffset? WillRetryUntil { get; init; }
}

/// <summary>What a report is about: the original envelope and headers, and who it goes to.</summary>
public sealed record DsnRequest(
    string ReportingMta,
    string OriginalSender,
    DateTimeOffset ArrivalDate,
    IReadOnlyList<DsnRecipient> Recipients,
    ReadOnlyMemory<byte> OriginalHeaders,
    DateTimeOffset Now,
    string MessageIdLocalPart);

/// <summary>
/// Builds a delivery status notification: an RFC 6522 multipart/report with a human-readable part, a
/// message/delivery-status part (RFC 3464; message/global-delivery-status per RFC 6533 when an address is not
/// ASCII) and the original headers (text/rfc822-headers). The caller sends it from the null sender &lt;&gt; to the
/// original sender, and never for a message whose own sender was &lt;&gt; (no bounce for a bounce).
/// </summary>
public static class DeliveryStatusNotification
{
    public static bool ShouldReport(string originalSender) => originalSender.Length > 0;

    public static byte[] Compose(DsnRequest request)
    {
        ArgumentOutOfRangeException.ThrowIfZero(request.Recipients.Count);
        var utf8 = !Ascii.IsValid(request.OriginalSender) || request.Recipients.Any(r => !Ascii.IsValid(r.Address));
        var failed = request.Recipients.Any(r => r.Action == DsnAction.Failed);
        var boundary = $"=_{request.MessageIdLocalPart}_report";
        var text = new StringBuilder();
        text.Append($"From: Mail Delivery System <MAILER-DAEMON@{request.ReportingMta}>\r\n");
        text.Append($"To: <{request.OriginalSender}>\r\n");
        text.Append(failed ? "Subject: Undelivered Mail Returned to Sender\r\n" : "Subject: Delayed Mail (still being retried)\r\n");
        text.Append($"Date: {Rfc5322Date(request.Now)}\r\n");
        text.Append($"Message-ID: <{request.MessageIdLocalPart}@{request.ReportingMta}>\r\n");
        text.Append("Auto-Submitted: auto-replied\r\n"); // RFC 3834 §5: no auto-reply to this
        text.Append("MIME-Version: 1.0\r\n");
        text.Append($"Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n");
        text.Append("This is a MIME-encapsulated message.\r\n\r\n");

        text.Append($"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
        text.Append($"This is the mail system at host {request.ReportingMta}.\r\n\r\n");
        text.Append(failed
            ? "Your message could not be delivered to one or more recipients. It is attached below.\r\n\r\n"
            : "Your message has not been delivered yet to one or more recipients. The mail system will keep trying.\r\n\r\n");
        foreach (var recipient in request.Recipients)
        {
            text.Append($"<{recipient.Address}>: {Sanitize(recipient.Diagnostic)}\r\n");
        }
        text.Append("\r\n");

        text.Append($"--{boundary}\r\nContent-Type: message/{(utf8 ? "global-" : "")}delivery-status\r\n\r\n");
        text.Append($"Reporting-MTA: dns; {request.ReportingMta}\r\n");
        text.Append($"Arrival-Date: {Rfc5322Date(request.ArrivalDate)}\r\n");
        foreach (var recipient in request.Recipients)
        {
            text.Append("\r\n");
            text.Append($"Final-Recipient: {(Ascii.IsValid(recipient.Address) ? "rfc822" : "utf-8")}; {recipient.Address}\r\n");
            text.Append($"Action: {(recipient.Action == DsnAction.Failed ? "failed" : "delayed")}\r\n");
            text.Append($"Status: {StatusCode(recipient.Diagnostic, recipient.Action)}\r\n");
            if (recipient.RemoteMta is not null)
            {
                text.Append($"Remote-MTA: dns; {recipient.RemoteMta}\r\n");
            }
            text.Append($"Diagnostic-Code: smtp; {Sanitize(recipient.Diagnostic)}\r\n");
            if (recipient.Action == DsnAction.Delayed && recipient.WillRetryUntil is { } until)
            {
                text.Append($"Will-Retry-Until: {Rfc5322Date(until)}\r\n");
            }
        }
        text.Append("\r\n");

        text.Append($"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n");
        var prefix = Encoding.UTF8.GetBytes(text.ToString());
        var suffix = Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n");
        var headers = TrimTrailingLineEnds(request.OriginalHeaders.Span);
        var message = new byte[prefix.Length + headers.Length + suffix.Length];
        prefix.CopyTo(message, 0);
        headers.CopyTo(message.AsSpan(prefix.Length));
        suffix.CopyTo(message, prefix.Length + headers.Length);
        return message;
    }

    /// <summary>The header section of a message: everything before the first empty line.</summary>
    public static ReadOnlyMemory<byte> HeaderSection(ReadOnlyMemory<byte> message)
    {
        var end = message.Span.IndexOf("\r\n\r\n"u8);
        return end < 0 ? message : message[..(end + 2)];
    }

    /// <summary>RFC 3463 code from the reply text ("550 5.1.1 …"), else one derived from the reply class.</summary>
    internal static string StatusCode(string diagnostic, DsnAction action)
    {
        var parts = diagnostic.Split(' ', 3);
        if (parts.Length >= 2 && IsEnhancedCode(parts[1]))
        {
            return parts[1];
        }
        if (parts.Length >= 1 && parts[0].Length == 3 && parts[0][0] is '4' or '5')
        {
            return $"{parts[0][0]}.0.0";
        }
        return action == DsnAction.Failed ? "5.0.0" : "4.0.0";
    }

    private static bool IsEnhancedCode(string text)
    {
        var pieces = text.Split('.');
        return pieces.Length == 3 && pieces[0] is "2" or "4" or "5"
            && pieces.All(p => p.Length is > 0 and <= 3 && p.All(char.IsAsciiDigit));
    }

    // Diagnostics come from remote servers: keep them on one line so they cannot inject header fields.
    private static string Sanitize(string diagnostic) =>
        diagnostic.Replace('\r', ' ').Replace('\n', ' ').Trim();

    private static ReadOnlySpan<byte> TrimTrailingLineEnds(ReadOnlySpan<byte> headers) => headers.TrimEnd("\r\n"u8);

    private static string Rfc5322Date(DateTimeOffset time) =>
        time.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture);
}
