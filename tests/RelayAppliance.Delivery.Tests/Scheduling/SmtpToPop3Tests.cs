using System.Net;
using System.Text;
using MailKit.Net.Pop3;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Local;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>
/// The whole local path in one process, as relayd wires it: MailKit submits over SMTP, the scheduler delivers into
/// the durable mailbox store, MailKit reads it over POP3 and deletes it.
/// </summary>
public sealed class SmtpToPop3Tests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "relay-smtp-pop3-" + Guid.NewGuid().ToString("n"));
    private readonly List<IAsyncDisposable> _open = [];
    private SmtpServer _smtp = null!;
    private Pop3Server _pop3 = null!;
    private MessageSpool _queue = null!;
    private MailboxStore _mailboxes = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        var log = NullLoggerFactory.Instance;
        _queue = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(_root, "spool"), FreeSpaceFloorBytes = 0 }, log, TimeProvider.System);
        _mailboxes = MailboxStore.Open(new SpoolOptions { Directory = Path.Combine(_root, "mailboxes"), FreeSpaceFloorBytes = 0 }, log, TimeProvider.System);
        var users = new UserStore(_root);
        users.SetPassword("alice@local.test", "pw", 1000);
        var directory = new MailboxDirectory(users, ["local.test"], new Dictionary<string, string>(), new Dictionary<string, string>(),
            _mailboxes.UsedBytes, 0);
        _smtp = new SmtpServer(new SmtpServerOptions { Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)], Hostname = "mx.local.test" },
            new RelayPolicy(["local.test"], [], [IPNetwork.Parse("127.0.0.0/8")]), users, _queue, log, TimeProvider.System) { Mailboxes = directory };
        var resolver = new MxResolver(new DnsOptions { Servers = [new IPEndPoint(IPAddress.Loopback, 1)], Retries = 0 }, TimeProvider.System, log);
        var delivery = new DeliveryService(new DeliveryOptions { Hostname = "mx.local.test" }, _queue, resolver,
            new OutboundOptions { HeloName = "mx.local.test" }, TimeProvider.System, log, new LocalDelivery(_mailboxes, directory.Resolve, 0));
        _pop3 = new Pop3Server(new Pop3ServerOptions { Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)] },
            users, new SpoolMailboxStore(_mailboxes), log, TimeProvider.System);
        _smtp.Start();
        _pop3.Start();
        delivery.Start();
        _open.AddRange([_smtp, _pop3, delivery, _mailboxes, _queue]);
        await Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var item in _open)
        {
            await item.DisposeAsync();
        }
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task MailSentOverSmtpIsReadAndDeletedOverPop3()
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("bob@example.org"));
        message.To.Add(MailboxAddress.Parse("alice@local.test"));
        message.Subject = "round trip";
        message.Body = new TextPart("plain") { Text = ".a line with a leading dot\r\n..and two\r\nend\r\n" };
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", _smtp.BoundEndPoints[0].Port, MailKit.Security.SecureSocketOptions.None);
            await smtp.SendAsync(message);
            await smtp.DisconnectAsync(true);
        }
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (_mailboxes.List("alice@local.test").Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "local delivery did not happen");
            await Task.Delay(20);
        }

        using (var pop = new Pop3Client())
        {
            await pop.ConnectAsync("127.0.0.1", _pop3.BoundEndPoints[0].Port, MailKit.Security.SecureSocketOptions.None);
            await pop.AuthenticateAsync("alice@local.test", "pw");
            Assert.Equal(1, pop.Count);
            var read = await pop.GetMessageAsync(0);
            Assert.Equal("round trip", read.Subject);
            Assert.Equal(".a line with a leading dot\r\n..and two\r\nend\r\n", read.TextBody!.Replace("\r\n", "\n").Replace("\n", "\r\n"));
            Assert.Equal("alice@local.test", read.Headers["Delivered-To"]);
            await pop.DeleteMessageAsync(0);
            await pop.DisconnectAsync(true); // QUIT commits the deletion
        }
        Assert.Empty(_mailboxes.List("alice@local.test"));
        Assert.Empty(_queue.List()); // the queue entry is done too
    }
}
