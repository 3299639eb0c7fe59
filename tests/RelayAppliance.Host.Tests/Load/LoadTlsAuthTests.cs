using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Load;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests.Load;

/// <summary>--starttls and --auth against relayd's own SMTP server with a self-signed certificate, over loopback.</summary>
public sealed class LoadTlsAuthTests : IAsyncLifetime
{
    private const string User = "load@loadgen.test";
    private const string Password = "s3cret";
    private readonly string _directory = Directory.CreateTempSubdirectory("relay-load-tls-").FullName;
    private MessageSpool? _spool;
    private SmtpServer? _server;

    private string Target => $"127.0.0.1:{_server!.BoundEndPoints[0].Port}";

    public async Task InitializeAsync()
    {
        _spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(_directory, "spool"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var users = new UserStore(_directory);
        users.SetPassword(User, Password, 1000);
        var options = new SmtpServerOptions
        {
            Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)],
            Hostname = "mx.test",
            Certificate = RelayAppliance.Testing.TestCertificates.SelfSigned("mx.test"),
            MaxMessageSize = 1_000_000,
            MaxRecipients = 100,
            ShutdownGrace = TimeSpan.FromSeconds(5),
        };
        var policy = new RelayPolicy(["localhost"], ["loadgen.test"], [IPNetwork.Parse("127.0.0.0/8")]);
        _server = new SmtpServer(options, policy, users, _spool, NullLoggerFactory.Instance, TimeProvider.System);
        _server.Start();
        await Task.Yield();
    }

    public async Task DisposeAsync()
    {
        await _server!.DisposeAsync();
        await _spool!.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    private string PasswordFile(string password)
    {
        var path = Path.Combine(_directory, "password-" + Guid.NewGuid().ToString("n"));
        File.WriteAllText(path, password + "\n");
        return path;
    }

    private async Task<LoadRunner> RunAsync(params string[] more)
    {
        var runner = new LoadRunner(LoadOptions.Parse(["--target", Target, "--concurrency", "2", .. more]));
        await runner.RunAsync();
        return runner;
    }

    [Fact]
    public async Task StartTlsAndAuthDeliverEveryMessageAndTimeTheHandshake()
    {
        var runner = await RunAsync("--messages", "12", "--per-connection", "4", "--pipelining", "--starttls",
            "--auth", User, "--password-file", PasswordFile(Password));

        Assert.Equal(12, runner.Statistics.Accepted);
        Assert.Empty(runner.Statistics.Errors);
        Assert.Equal(12, _spool!.GetStats().Messages);
        Assert.Equal(3, runner.Statistics.Tls.Summarize().Count); // one handshake per connection
        Assert.Contains(runner.Statistics.Histograms, h => h.Name == "tls");
    }

    [Fact]
    public async Task StartTlsAloneWorksAndPlaintextRunsHaveNoTlsKind()
    {
        var tls = await RunAsync("--messages", "4", "--starttls");
        Assert.Equal(4, tls.Statistics.Accepted);
        Assert.Equal(4, tls.Statistics.Tls.Summarize().Count);

        var plain = await RunAsync("--messages", "4");
        Assert.Equal(4, plain.Statistics.Accepted);
        Assert.DoesNotContain(plain.Statistics.Histograms, h => h.Name == "tls");
    }

    [Fact]
    public async Task AWrongPasswordIsCountedUnder535()
    {
        var runner = await RunAsync("--messages", "6", "--starttls", "--auth", User, "--password-file", PasswordFile("wrong"));

        Assert.Equal(0, runner.Statistics.Accepted);
        Assert.Equal(6, runner.Statistics.Failed);
        Assert.Equal(6, runner.Statistics.Errors.Single(e => e.Key == "535").Value);
        Assert.Equal(0, _spool!.GetStats().Messages);
    }

    [Fact]
    public async Task TlsVerifyRefusesTheSelfSignedCertificate()
    {
        var runner = await RunAsync("--messages", "2", "--starttls", "--tls-verify");
        Assert.Equal(0, runner.Statistics.Accepted);
        Assert.Equal(2, runner.Statistics.Errors.Single(e => e.Key == "tls-handshake").Value);
    }

    [Fact]
    public void ThePasswordComesFromTheEnvironmentOrAFileAndIsNeverPrinted()
    {
        var saved = Environment.GetEnvironmentVariable(LoadOptions.PasswordVariable);
        try
        {
            Environment.SetEnvironmentVariable(LoadOptions.PasswordVariable, null);
            var e = Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "127.0.0.1:25", "--auth", User]));
            Assert.Contains(LoadOptions.PasswordVariable, e.Message);

            Environment.SetEnvironmentVariable(LoadOptions.PasswordVariable, "from-env");
            var options = LoadOptions.Parse(["--target", "127.0.0.1:25", "--auth", User]);
            Assert.Equal("from-env", options.Credentials!.Password);
            Assert.DoesNotContain("from-env", options.ToString());
            Assert.Equal(Password, LoadOptions.Parse(["--target", "127.0.0.1:25", "--auth", User, "--password-file", PasswordFile(Password)]).Credentials!.Password);
        }
        finally
        {
            Environment.SetEnvironmentVariable(LoadOptions.PasswordVariable, saved);
        }
        Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "127.0.0.1:25", "--tls-verify"]));
        Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "127.0.0.1:25", "--password-file", PasswordFile("x")]));
        Assert.Throws<UsageException>(() => LoadOptions.Parse(["--target", "127.0.0.1:25", "--auth", User, "--password-file", Path.Combine(_directory, "none")]));
    }
}
