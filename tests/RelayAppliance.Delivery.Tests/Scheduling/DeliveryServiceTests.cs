using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Delivery.Tests.Dns;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>
/// End to end inside one process: a spool with queued mail, the delivery service, a DNS server on 127.0.0.1 and
/// real relayd SMTP servers on other 127.0.0.x addresses standing in for remote MTAs (their spools are the sinks).
/// </summary>
public sealed class DeliveryServiceTests : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "relay-delivery-" + Guid.NewGuid().ToString("n"));
    private readonly List<IAsyncDisposable> _cleanup = [];
    private TestDnsServer _dns = null!;
    private MessageSpool _spool = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_root);
        _dns = new TestDnsServer();
        _spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(_root, "spool"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        await Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            await _cleanup[i].DisposeAsync();
        }
        await _spool.DisposeAsync();
        await _dns.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>A remote MTA: relayd accepting mail for <paramref name="domain"/> only, from anyone.</summary>
    private async Task<(MessageSpool Spool, IPEndPoint EndPoint)> StartSinkAsync(string address, int port, string domain, bool full = false)
    {
        var directory = Path.Combine(_root, "sink-" + address + "-" + port);
        // A "full" sink answers MAIL with 452 4.3.1 (below its free-space floor): a temporary refusal.
        var spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(directory, "spool"), FreeSpaceFloorBytes = full ? long.MaxValue : 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var server = new SmtpServer(
            new SmtpServerOptions { Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Parse(address), port), false)], Hostname = "sink.test" },
            new RelayPolicy([domain], [], []), new UserStore(directory), spool, NullLoggerFactory.Instance, TimeProvider.System);
        server.Start();
        _cleanup.Add(spool);
        _cleanup.Add(server);
        await Task.Yield();
        return (spool, server.BoundEndPoints[0]);
    }

    private DeliveryService StartDelivery(Func<DeliveryOptions, DeliveryOptions>? configure = null, int mxPort = 25)
    {
        var options = new DeliveryOptions { Hostname = "relay.local.test", MxPort = mxPort, LocalDomains = ["local.test"] };
        options = configure?.Invoke(options) ?? options;
        var resolver = new MxResolver(new DnsOptions { Servers = [_dns.EndPoint], Timeout = TimeSpan.FromMilliseconds(500), Retries = 0 },
            TimeProvider.System, NullLoggerFactory.Instance);
        var service = new DeliveryService(options, _spool, resolver, new OutboundOptions { HeloName = "relay.local.test" },
            TimeProvider.System, NullLoggerFactory.Instance);
        _cleanup.Add(service);
        service.Start();
        return service;
    }

    private async Task<MessageId> QueueAsync(string sender, params string[] recipients)
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", "client.test", null, tls: false);
        envelope.SetSender(Encoding.UTF8.GetBytes(sender), smtpUtf8: false, eightBitMime: false);
        foreach (var recipient in recipients)
        {
            envelope.AddRecipient(Encoding.UTF8.GetBytes(recipient), recipient.EndsWith("@local.test", StringComparison.Ordinal) ? RecipientRoute.Local : RecipientRoute.Remote);
        }
        var body = _spool.CreateBodyWriter();
        var content = Encoding.ASCII.GetBytes("From: a@local.test\r\nSubject: hello\r\n\r\n.a line with a dot\r\nbye\r\n");
        content.CopyTo(body.GetSpan());
        body.Advance(content.Length);
        return await _spool.AcceptAsync(body, envelope, CancellationToken.None);
    }

    private static async Task WaitForAsync(Func<bool> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for: " + what);
            await Task.Delay(25);
        }
    }

    private static string Body(MessageSpool spool, MessageId id)
    {
        using var stream = new MemoryStream();
        spool.CopyBodyToAsync(id, stream, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    [Fact]
    public async Task TransportRouteDeliversAndTheMessageLeavesTheQueue()
    {
        var (sink, endPoint) = await StartSinkAsync("127.0.0.21", 0, "partner.test");
        StartDelivery(o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] } });
        var id = await QueueAsync("a@local.test", "bob@partner.test", "carol@partner.test");

        await WaitForAsync(() => _spool.Find(id) is null, "the message to be delivered");
        var delivered = Assert.Single(sink.List());
        Assert.Equal("a@local.test", delivered.Sender);
        Assert.Equal(["bob@partner.test", "carol@partner.test"], delivered.Recipients.Select(r => r.Address));
        Assert.EndsWith("\r\n.a line with a dot\r\nbye\r\n", Body(sink, delivered.Id)); // dot-stuffing round trip
    }

    [Fact]
    public async Task HeldMailIsNotAttemptedUntilReleased()
    {
        var (sink, endPoint) = await StartSinkAsync("127.0.0.31", 0, "partner.test");
        var held = await QueueAsync("a@local.test", "bob@partner.test");
        Assert.True(await _spool.SetHeldAsync(held, true, CancellationToken.None)); // held before the service starts
        var service = StartDelivery(o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] } });
        var other = await QueueAsync("a@local.test", "carol@partner.test");

        await WaitForAsync(() => _spool.Find(other) is null, "the message that is not held");
        Assert.Equal(0, service.Flush()); // a flush does not touch held mail either
        await Task.Delay(300);
        Assert.Equal(RecipientState.Queued, _spool.Find(held)!.Recipients[0].State);
        Assert.Single(sink.List());

        Assert.True(await service.ReleaseAsync(held, CancellationToken.None));
        await WaitForAsync(() => _spool.Find(held) is null, "the released message");
        Assert.Equal(2, sink.List().Count);
        Assert.False(await service.HoldAsync(held, CancellationToken.None)); // gone
    }

    [Fact]
    public async Task HoldingADeferredMessageTakesItOutOfTheSchedule()
    {
        var (_, endPoint) = await StartSinkAsync("127.0.0.32", 0, "partner.test", full: true); // 452: defers
        var service = StartDelivery(o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] } });
        var id = await QueueAsync("a@local.test", "bob@partner.test");
        // Waiting is 1 from the accept on (due at once): wait for the journaled deferral and its reschedule.
        await WaitForAsync(() => _spool.Find(id)!.Recipients[0].State == RecipientState.Deferred && service.Waiting == 1, "the deferral");

        Assert.True(await service.HoldAsync(id, CancellationToken.None));
        Assert.Equal(0, service.Waiting);
        Assert.True(_spool.Find(id)!.Held);
        Assert.True(await service.ReleaseAsync(id, CancellationToken.None));
        Assert.False(_spool.Find(id)!.Held);
        await WaitForAsync(() => _spool.Find(id)!.Recipients[0].Attempts == 2, "the attempt right after the release");
    }

    [Fact]
    public async Task ADelayedMessageGetsOneDelayNotification()
    {
        var (_, endPoint) = await StartSinkAsync("127.0.0.33", 0, "partner.test", full: true); // 452: defers
        var service = StartDelivery(o => o with
        {
            Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] },
            DelayWarningTime = TimeSpan.FromMilliseconds(1),
        });
        var id = await QueueAsync("alice@local.test", "bob@partner.test");

        await WaitForAsync(() => _spool.Find(id) is { DelayWarned: true }, "the delay notification");
        var warning = Assert.Single(_spool.List(), m => m.Id != id);
        Assert.Equal("", warning.Sender);
        Assert.Equal("alice@local.test", Assert.Single(warning.Recipients).Address);
        var report = Body(_spool, warning.Id);
        Assert.Contains("Subject: Delayed Mail (still being retried)", report);
        Assert.Contains("Action: delayed", report);
        Assert.Contains("Status: 4.3.1", report);
        Assert.Contains("Will-Retry-Until: ", report);

        Assert.Equal(1, service.Flush()); // a second deferral sends no second warning
        await WaitForAsync(() => _spool.Find(id)!.Recipients[0].Attempts == 2, "the second attempt");
        await WaitForAsync(() => service.Waiting == 1, "the second deferral to be journaled");
        Assert.Equal(2, _spool.List().Count);
    }

    [Fact]
    public async Task MxPreferenceAndFailoverWhenTheBestHostRefuses()
    {
        var (sink, endPoint) = await StartSinkAsync("127.0.0.23", 0, "remote.test");
        _dns.Mx("remote.test", 10, "mx1.remote.test").Mx("remote.test", 20, "mx2.remote.test")
            .Address("mx1.remote.test", "127.0.0.22") // nothing listens there: connection refused
            .Address("mx2.remote.test", "127.0.0.23");
        StartDelivery(mxPort: endPoint.Port);
        var id = await QueueAsync("a@local.test", "bob@remote.test");

        await WaitForAsync(() => _spool.Find(id) is null, "delivery through the second MX");
        Assert.Equal("bob@remote.test", Assert.Single(Assert.Single(sink.List()).Recipients).Address);
    }

    [Fact]
    public async Task PermanentRefusalBouncesWithADsnToTheSender()
    {
        var (_, endPoint) = await StartSinkAsync("127.0.0.24", 0, "other.test"); // refuses remote.test: 554 5.7.1
        StartDelivery(o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["remote.test"] = [endPoint] } });
        var id = await QueueAsync("alice@local.test", "bob@remote.test");

        await WaitForAsync(() => _spool.Find(id) is null && _spool.List().Count == 1, "the bounce");
        var bounce = Assert.Single(_spool.List());
        Assert.Equal("", bounce.Sender);
        var recipient = Assert.Single(bounce.Recipients);
        Assert.Equal("alice@local.test", recipient.Address);
        Assert.Equal(RecipientRoute.Local, recipient.Route);
        var report = Body(_spool, bounce.Id);
        Assert.Contains("multipart/report; report-type=delivery-status", report);
        Assert.Contains("Final-Recipient: rfc822; bob@remote.test", report);
        Assert.Contains("Status: 5.7.1", report);
        Assert.Contains("Subject: hello", report); // original headers returned
    }

    [Fact]
    public async Task NoBounceForABounce()
    {
        _dns.Exists("example.test"); // name exists without MX or address: no such mail domain
        StartDelivery();
        var id = await QueueAsync("", "bob@example.test");
        await WaitForAsync(() => _spool.Find(id) is null, "the failed bounce to be dropped");
        Assert.Empty(_spool.List());
    }

    [Theory]
    [InlineData("nxdomain.test", "5.1.2")]
    [InlineData("nullmx.test", "5.1.10")]
    public async Task DnsAnswersThatRuleOutDeliveryBounce(string domain, string status)
    {
        _dns.NullMx("nullmx.test");
        StartDelivery();
        var id = await QueueAsync("alice@local.test", "bob@" + domain);
        await WaitForAsync(() => _spool.Find(id) is null, "the bounce");
        var report = Body(_spool, Assert.Single(_spool.List()).Id);
        Assert.Contains("Status: " + status, report);
    }

    [Fact]
    public async Task MxPointingBackAtUsIsAMailLoop()
    {
        _dns.Mx("loop.test", 10, "relay.local.test").Address("relay.local.test", "127.0.0.25");
        StartDelivery();
        var id = await QueueAsync("alice@local.test", "bob@loop.test");
        await WaitForAsync(() => _spool.Find(id) is null, "the loop bounce");
        Assert.Contains("Status: 5.4.6", Body(_spool, Assert.Single(_spool.List()).Id));
    }

    [Fact]
    public async Task TemporaryDnsFailureDefersWithBackoff()
    {
        _dns.Fail("flaky.test", TestDnsServer.Behaviour.ServFail);
        var service = StartDelivery();
        var before = DateTimeOffset.UtcNow;
        var id = await QueueAsync("alice@local.test", "bob@flaky.test");

        await WaitForAsync(() => _spool.Find(id)?.Recipients[0].State == RecipientState.Deferred, "the deferral");
        var recipient = _spool.Find(id)!.Recipients[0];
        Assert.Equal(1, recipient.Attempts);
        Assert.True(recipient.NextAttemptAt >= before + TimeSpan.FromSeconds(300), $"next attempt {recipient.NextAttemptAt}");
        Assert.Contains("4.4.3", recipient.LastResult);
        // The spool shows the state when it is appended; the service reschedules once the commit returned.
        await WaitForAsync(() => service.Waiting == 1, "the message to wait for its next attempt");
    }

    [Fact]
    public async Task QueuedMailIsPickedUpAtStartAndLocalRecipientsWait()
    {
        var (sink, endPoint) = await StartSinkAsync("127.0.0.26", 0, "partner.test");
        var id = await QueueAsync("a@local.test", "bob@partner.test", "me@local.test"); // queued before the service starts
        StartDelivery(o => o with { Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] } });

        await WaitForAsync(() => sink.List().Count == 1, "delivery of mail queued before start");
        await WaitForAsync(() => _spool.Find(id)?.Recipients[0].State == RecipientState.Delivered, "the journaled result");
        var message = _spool.Find(id)!;
        Assert.Equal(RecipientState.Queued, message.Recipients[1].State); // local mailbox delivery is not ours
    }

    [Fact]
    public async Task ManyMessagesToOneDestinationAllArriveOnce()
    {
        var (sink, endPoint) = await StartSinkAsync("127.0.0.27", 0, "partner.test");
        StartDelivery(o => o with
        {
            Transports = new Dictionary<string, IReadOnlyList<NextHop>> { ["partner.test"] = [endPoint] },
            PerDestination = new ConcurrencyOptions { Initial = 2, Limit = 3 },
        });
        var ids = new List<MessageId>();
        for (var i = 0; i < 30; i++)
        {
            ids.Add(await QueueAsync("a@local.test", $"user{i}@partner.test"));
        }
        await WaitForAsync(() => ids.All(id => _spool.Find(id) is null), "all 30 messages to be delivered", seconds: 30);
        var received = sink.List().SelectMany(m => m.Recipients).Select(r => r.Address).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 30).Select(i => $"user{i}@partner.test").Order().ToList(), received);
    }

    [Fact]
    public async Task ATemporaryRefusalAtTheBestMxFallsBackToTheNextOne()
    {
        var (full, endPoint) = await StartSinkAsync("127.0.0.28", 0, "remote.test", full: true);
        var (sink, _) = await StartSinkAsync("127.0.0.29", endPoint.Port, "remote.test");
        _dns.Mx("remote.test", 10, "mx1.remote.test").Mx("remote.test", 20, "mx2.remote.test")
            .Address("mx1.remote.test", "127.0.0.28").Address("mx2.remote.test", "127.0.0.29");
        StartDelivery(mxPort: endPoint.Port);
        var id = await QueueAsync("a@local.test", "bob@remote.test");

        await WaitForAsync(() => _spool.Find(id) is null, "delivery through the second MX after a 452");
        Assert.Empty(full.List());
        Assert.Single(sink.List());
    }
}
