using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using RelayAppliance.Delivery.Dns;
using RelayAppliance.Delivery.Local;
using RelayAppliance.Delivery.Outbound;
using RelayAppliance.Delivery.Scheduling;
using RelayAppliance.Delivery.Tests.Dns;
using RelayAppliance.Delivery.Tests.Outbound;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Delivery.Tests.Scheduling;

/// <summary>
/// A delivery service on a fake clock: a real spool in a temp directory (on the same clock, so messages are received
/// at fake times), the in-test DNS server as the only resolver, and scripted SMTP peers on 127.0.0.x.
/// Nothing is due later until the test advances <see cref="Time"/>.
/// </summary>
internal sealed class DeliveryHarness : IAsyncDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "relay-clock-" + Guid.NewGuid().ToString("n"));
    private readonly List<IAsyncDisposable> _cleanup = [];

    public DeliveryHarness()
    {
        Directory.CreateDirectory(_root);
        Spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(_root, "spool"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, Time);
    }

    /// <summary>A mailbox store in the harness's folder, closed with it.</summary>
    public MailboxStore OpenMailboxes()
    {
        var store = MailboxStore.Open(new SpoolOptions { Directory = Path.Combine(_root, "mailboxes"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, Time);
        _cleanup.Add(store);
        return store;
    }

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero));
    public TestDnsServer Dns { get; } = new();
    public MessageSpool Spool { get; }
    public DeliveryService Service { get; private set; } = null!;

    public FakeSmtpServer Peer(string address, int port = 0, string[]? extensions = null, string? greeting = null,
        Func<string, string?>? respond = null)
    {
        var peer = new FakeSmtpServer(IPAddress.Parse(address), port, extensions ?? FakeSmtpServer.Full)
        {
            Greeting = greeting ?? "220 fake.test ESMTP",
            Respond = respond ?? (_ => null),
        };
        _cleanup.Add(peer);
        return peer;
    }

    /// <summary>Routes <paramref name="domain"/> to the peers (a Delivery:Transports entry).</summary>
    public static DeliveryOptions Transport(DeliveryOptions options, string domain, params FakeSmtpServer[] peers)
    {
        var transports = new Dictionary<string, IReadOnlyList<NextHop>>(options.Transports) { [domain] = peers.Select(p => (NextHop)p.EndPoint).ToList() };
        return options with { Transports = transports };
    }

    public DeliveryService Start(Func<DeliveryOptions, DeliveryOptions>? configure = null, int mxPort = 25, Random? shuffle = null,
        LocalDelivery? local = null)
    {
        var options = new DeliveryOptions { Hostname = "relay.local.test", MxPort = mxPort, LocalDomains = ["local.test"] };
        options = configure?.Invoke(options) ?? options;
        var dns = new DnsOptions { Servers = [Dns.EndPoint], Timeout = TimeSpan.FromSeconds(5), Retries = 0 };
        var resolver = new MxResolver(dns, Time, NullLoggerFactory.Instance, shuffle ?? Random.Shared);
        Service = new DeliveryService(options, Spool, resolver, OutboundTestKit.Options() with { HeloName = "relay.local.test" },
            Time, NullLoggerFactory.Instance, local);
        _cleanup.Add(Service);
        Service.Start();
        return Service;
    }

    public Task<MessageId> QueueAsync(string sender, params string[] recipients) =>
        QueueAsync(sender, recipients, Encoding.ASCII.GetBytes("From: a@local.test\r\nSubject: hello\r\n\r\nbody\r\n"));

    public async Task<MessageId> QueueAsync(string sender, string[] recipients, byte[] content, bool eightBitMime = false, bool smtpUtf8 = false)
    {
        var envelope = new EnvelopeBuilder();
        envelope.SetSession("127.0.0.1", "client.test", null, tls: false);
        envelope.SetSender(Encoding.UTF8.GetBytes(sender), smtpUtf8, eightBitMime);
        foreach (var recipient in recipients)
        {
            envelope.AddRecipient(Encoding.UTF8.GetBytes(recipient),
                recipient.EndsWith("@local.test", StringComparison.Ordinal) ? RecipientRoute.Local : RecipientRoute.Remote);
        }
        var body = Spool.CreateBodyWriter();
        content.CopyTo(body.GetSpan()); // small bodies: one chunk
        body.Advance(content.Length);
        return await Spool.AcceptAsync(body, envelope, CancellationToken.None);
    }

    public RecipientInfo Recipient(MessageId id, int index = 0) => Spool.Find(id)!.Recipients[index];

    /// <summary>
    /// Waits (in real time) for the service to act; the fake clock does not move meanwhile. On timeout the message
    /// names what the queue holds: a deferral on a clock that never moves would otherwise look like a hang.
    /// </summary>
    public async Task WaitForAsync(Func<bool> condition, string what, int seconds = 15)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow >= deadline)
            {
                var queue = Spool.List().SelectMany(m => m.Recipients.Select(r => $"{m.Id} <{r.Address}> {r.State} {r.LastResult}"));
                Assert.Fail($"timed out waiting for: {what}; queue: {string.Join("; ", queue)}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>
    /// Gives the service real time to do something it must not do (it reacts within milliseconds when it does);
    /// for assertions that something did not happen.
    /// </summary>
    public static Task SettleAsync() => Task.Delay(300);

    /// <summary>Waits until a deferral is journaled and the message is back in the due queue.</summary>
    public async Task<RecipientInfo> WaitForDeferralAsync(MessageId id, int attempts, int index = 0)
    {
        await WaitForAsync(() => Spool.Find(id)?.Recipients[index] is { State: RecipientState.Deferred } r && r.Attempts == attempts,
            $"attempt {attempts} to be deferred");
        await WaitForAsync(() => Service.Waiting > 0, "the message to wait for its next attempt");
        return Recipient(id, index);
    }

    public string Body(MessageId id)
    {
        using var stream = new MemoryStream();
        Spool.CopyBodyToAsync(id, stream, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public static int Count(FakeSmtpServer peer, string verb) =>
        peer.Commands.Count(c => c.StartsWith(verb, StringComparison.OrdinalIgnoreCase));

    public async ValueTask DisposeAsync()
    {
        // The service first (it cancels its attempts), then the peers, the spool and DNS.
        _cleanup.Reverse();
        foreach (var item in _cleanup)
        {
            await item.DisposeAsync();
        }
        await Spool.DisposeAsync();
        await Dns.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }
}
