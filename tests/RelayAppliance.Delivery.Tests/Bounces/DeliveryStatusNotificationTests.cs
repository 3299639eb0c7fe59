using System.Text;
using MimeKit;
using RelayAppliance.Delivery.Bounces;

namespace RelayAppliance.Delivery.Tests.Bounces;

public sealed class DeliveryStatusNotificationTests
{
    private static readonly DateTimeOffset Arrival = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Original = Encoding.ASCII.GetBytes(
        "Received: from c ([127.0.0.1])\r\n\tby mx.test (RelayAppliance) with ESMTP;\r\n\tSat, 28 Nov 2026 12:00:00 GMT\r\n" +
        "From: Alice <alice@example.org>\r\nTo: bob@remote.test\r\nSubject: quarterly numbers\r\nMessage-ID: <q1@example.org>\r\n\r\n" +
        "secret body that must not be returned\r\n");

    private static DsnRequest Request(params DsnRecipient[] recipients) => new(
        "mx.test", "alice@example.org", Arrival, recipients,
        DeliveryStatusNotification.HeaderSection(Original), Arrival.AddDays(5), "dsn-001a2b");

    private static MimeMessage Parse(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes));

    [Fact]
    public void FailedReportIsAMultipartReportWithStatusAndOriginalHeaders()
    {
        var bytes = DeliveryStatusNotification.Compose(Request(
            new DsnRecipient("bob@remote.test", DsnAction.Failed, "550 5.1.1 <bob@remote.test>: user unknown", "mx1.remote.test"),
            new DsnRecipient("carol@remote.test", DsnAction.Failed, "554 no such domain", null)));
        var message = Parse(bytes);

        Assert.Equal("alice@example.org", ((MailboxAddress)message.To.Single()).Address);
        Assert.Equal("MAILER-DAEMON@mx.test", ((MailboxAddress)message.From.Single()).Address);
        Assert.Equal("auto-replied", message.Headers["Auto-Submitted"]);
        Assert.Contains("Undelivered", message.Subject);
        var report = Assert.IsType<MultipartReport>(message.Body);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal(3, report.Count);

        var status = Assert.IsType<MessageDeliveryStatus>(report[1]);
        Assert.Equal("dns; mx.test", status.StatusGroups[0]["Reporting-MTA"]);
        Assert.Equal(3, status.StatusGroups.Count);
        Assert.Equal("rfc822; bob@remote.test", status.StatusGroups[1]["Final-Recipient"]);
        Assert.Equal("failed", status.StatusGroups[1]["Action"]);
        Assert.Equal("5.1.1", status.StatusGroups[1]["Status"]);
        Assert.Equal("dns; mx1.remote.test", status.StatusGroups[1]["Remote-MTA"]);
        Assert.Equal("5.0.0", status.StatusGroups[2]["Status"]); // no enhanced code in the reply: derived from 554

        var returned = Assert.IsType<TextRfc822Headers>(report[2]).Message;
        Assert.NotNull(returned);
        Assert.Equal("quarterly numbers", returned.Subject);
        Assert.Equal("q1@example.org", returned.MessageId);
        Assert.DoesNotContain("secret body", Encoding.ASCII.GetString(bytes));
    }

    [Fact]
    public void DelayNotificationSaysDelayed()
    {
        var message = Parse(DeliveryStatusNotification.Compose(Request(
            new DsnRecipient("bob@remote.test", DsnAction.Delayed, "451 4.4.1 connection timed out", "mx1.remote.test"))));
        Assert.Contains("Delayed", message.Subject);
        var status = Assert.IsType<MessageDeliveryStatus>(((MultipartReport)message.Body!)[1]);
        Assert.Equal("delayed", status.StatusGroups[1]["Action"]);
        Assert.Equal("4.4.1", status.StatusGroups[1]["Status"]);
    }

    [Fact]
    public void RemoteTextCannotInjectHeaderFields()
    {
        var bytes = DeliveryStatusNotification.Compose(Request(
            new DsnRecipient("bob@remote.test", DsnAction.Failed, "550 5.7.1 nope\r\nBcc: victim@example.org", null)));
        var text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain("\r\nBcc:", text);
        Assert.Null(Parse(bytes).Headers["Bcc"]);
    }

    [Fact]
    public void NonAsciiAddressesUseTheGlobalDeliveryStatusType()
    {
        var bytes = DeliveryStatusNotification.Compose(Request(
            new DsnRecipient("jöran@bücher.test", DsnAction.Failed, "550 5.1.1 unknown", null)));
        var text = Encoding.UTF8.GetString(bytes);
        Assert.Contains("Content-Type: message/global-delivery-status", text);
        Assert.Contains("Final-Recipient: utf-8; jöran@bücher.test", text);
    }

    [Fact]
    public void NoReportForANullSender()
    {
        Assert.False(DeliveryStatusNotification.ShouldReport(""));
        Assert.True(DeliveryStatusNotification.ShouldReport("alice@example.org"));
    }

    [Fact]
    public void HeaderSectionStopsAtTheFirstEmptyLine()
    {
        var headers = Encoding.ASCII.GetString(DeliveryStatusNotification.HeaderSection(Original).ToArray());
        Assert.EndsWith("Message-ID: <q1@example.org>\r\n", headers);
    }
}
