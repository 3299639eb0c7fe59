using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Delivery.Tests.Outbound;

/// <summary>Our own inbound relayd server on 127.0.0.1:0 over a temp spool, as the peer (after RelayFixture in Server.Tests).</summary>
internal sealed class OutboundRelayFixture : IAsyncDisposable
{
    public const string Hostname = "mx.test";

    private readonly string _directory;

    private OutboundRelayFixture(string directory, MessageSpool spool, SmtpServer server, UserStore users)
    {
        _directory = directory;
        Spool = spool;
        Server = server;
        Users = users;
    }

    public MessageSpool Spool { get; }
    public SmtpServer Server { get; }
    public UserStore Users { get; }
    public IPEndPoint EndPoint => Server.BoundEndPoints[0];

    public static Task<OutboundRelayFixture> StartAsync(bool tls = false, long maxMessageSize = 1_000_000)
    {
        var directory = Path.Combine(Path.GetTempPath(), "relay-outbound-test-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(directory);
        var spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(directory, "spool"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var options = new SmtpServerOptions
        {
            Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)],
            Hostname = Hostname,
            Certificate = tls ? TestCertificate.Value : null,
            MaxMessageSize = maxMessageSize,
            MaxRecipients = 100,
            ShutdownGrace = TimeSpan.FromSeconds(5),
        };
        var policy = new RelayPolicy(["localhost", "local.test"], ["relay.test"], [IPNetwork.Parse("127.0.0.0/8")]);
        var users = new UserStore(directory);
        var server = new SmtpServer(options, policy, users, spool, NullLoggerFactory.Instance, TimeProvider.System);
        server.Start();
        return Task.FromResult(new OutboundRelayFixture(directory, spool, server, users));
    }

    public async Task<byte[]> SingleBodyAsync()
    {
        var queued = Assert.Single(Spool.List());
        using var stream = new MemoryStream();
        await Spool.CopyBodyToAsync(queued.Id, stream, CancellationToken.None);
        return stream.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Spool.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static readonly Lazy<X509Certificate2> TestCertificate = new(() => RelayAppliance.Testing.TestCertificates.SelfSigned(Hostname));
}
