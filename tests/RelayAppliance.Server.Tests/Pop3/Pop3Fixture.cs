using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Pop3;
using RelayAppliance.Server.Smtp;

namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>A real POP3 server on 127.0.0.1:0 (plus an implicit-TLS listener with tls) over an in-memory store.</summary>
internal sealed class Pop3Fixture : IAsyncDisposable
{
    public const string Alice = "alice@localhost";
    public const string AlicePassword = "correct horse";
    public const string Bob = "bob@localhost";
    public const string BobPassword = "battery staple";

    private Pop3Fixture(string directory, Pop3Server server, InMemoryMailboxStore store, UserStore users)
    {
        Directory = directory;
        Server = server;
        Store = store;
        Users = users;
    }

    public string Directory { get; }
    public Pop3Server Server { get; }
    public InMemoryMailboxStore Store { get; }
    public UserStore Users { get; }
    public int Port => Server.BoundEndPoints[0].Port;
    public int ImplicitTlsPort => Server.BoundEndPoints[1].Port;

    public static Task<Pop3Fixture> StartAsync(bool tls = false, Func<Pop3ServerOptions, Pop3ServerOptions>? configure = null, TimeProvider? time = null,
        Microsoft.Extensions.Logging.ILoggerFactory? logging = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "pop3-test-" + Guid.NewGuid().ToString("n"));
        System.IO.Directory.CreateDirectory(directory);
        var users = new UserStore(directory);
        users.SetPassword(Alice, AlicePassword, iterations: 1000);
        users.SetPassword(Bob, BobPassword, iterations: 1000);
        var endpoints = new List<ListenEndpoint> { new(new IPEndPoint(IPAddress.Loopback, 0), false) };
        if (tls)
        {
            endpoints.Add(new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), true));
        }
        var options = new Pop3ServerOptions
        {
            Endpoints = endpoints,
            Certificate = tls ? RelayFixture.TestCertificate.Value : null,
            FailedLoginDelay = TimeSpan.FromMilliseconds(50),
            ShutdownGrace = TimeSpan.FromSeconds(5),
        };
        options = configure?.Invoke(options) ?? options;
        var store = new InMemoryMailboxStore();
        var server = new Pop3Server(options, users, store, logging ?? NullLoggerFactory.Instance, time ?? TimeProvider.System);
        server.Start();
        return Task.FromResult(new Pop3Fixture(directory, server, store, users));
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
