using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Server.Tests;

/// <summary>A real server on 127.0.0.1:0 over a real spool in a temp folder.</summary>
internal sealed class RelayFixture : IAsyncDisposable
{
    public const string Hostname = "mx.test";

    private RelayFixture(string directory, MessageSpool spool, SmtpServer server, UserStore users, SmtpServerOptions options)
    {
        Directory = directory;
        Spool = spool;
        Server = server;
        Users = users;
        Options = options;
    }

    public string Directory { get; }
    public MessageSpool Spool { get; }
    public SmtpServer Server { get; }
    public UserStore Users { get; }
    public SmtpServerOptions Options { get; }
    public int Port => Server.BoundEndPoints[0].Port;
    public int ImplicitTlsPort => Server.BoundEndPoints[1].Port;

    public static async Task<RelayFixture> StartAsync(
        bool trusted = true,
        bool tls = false,
        Func<SmtpServerOptions, SmtpServerOptions>? configure = null,
        long freeSpaceFloor = 0,
        Func<UserStore, MailboxDirectory>? mailboxes = null,
        string? spoolParent = null)
    {
        var directory = Path.Combine(spoolParent ?? Path.GetTempPath(), "relay-test-" + Guid.NewGuid().ToString("n"));
        System.IO.Directory.CreateDirectory(directory);
        var spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(directory, "spool"), FreeSpaceFloorBytes = freeSpaceFloor },
            NullLoggerFactory.Instance, TimeProvider.System);
        var certificate = tls ? TestCertificate.Value : null;
        var endpoints = new List<ListenEndpoint> { new(new IPEndPoint(IPAddress.Loopback, 0), false) };
        if (tls)
        {
            endpoints.Add(new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), true));
        }
        var options = new SmtpServerOptions
        {
            Endpoints = endpoints,
            Hostname = Hostname,
            Certificate = certificate,
            MaxMessageSize = 1_000_000,
            MaxRecipients = 100,
            ShutdownGrace = TimeSpan.FromSeconds(5),
        };
        options = configure?.Invoke(options) ?? options;
        var policy = new RelayPolicy(["localhost", "local.test"], ["relay.test", ".sub.relay.test"],
            trusted ? [IPNetwork.Parse("127.0.0.0/8")] : []);
        var users = new UserStore(directory);
        var server = new SmtpServer(options, policy, users, spool, NullLoggerFactory.Instance, TimeProvider.System)
        {
            Mailboxes = mailboxes?.Invoke(users),
        };
        server.Start();
        await Task.Yield();
        return new RelayFixture(directory, spool, server, users, options);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        await Spool.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static readonly Lazy<X509Certificate2> TestCertificate = new(() => RelayAppliance.Testing.TestCertificates.SelfSigned(Hostname));
}
