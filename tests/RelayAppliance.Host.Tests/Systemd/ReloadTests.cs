using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Host.Commands;
using RelayAppliance.Host.Configuration;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;
using RelayAppliance.Spool.Mailboxes;

namespace RelayAppliance.Host.Tests.Systemd;

/// <summary>SIGHUP's work without the signal: reload the file, swap what new sessions see, refuse a bad file.</summary>
public sealed class ReloadTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("relay-reload-").FullName;
    private readonly CapturingLogger _log = new();
    private string ConfigFile => Path.Combine(_directory, "relayd.json");
    private MessageSpool _spool = null!;
    private MailboxStore _mailboxStore = null!;
    private SmtpServer _server = null!;
    private ConfigurationReloader _reloader = null!;

    private string[] Overrides => [$"--Relay:DataDirectory={Path.Combine(_directory, "data")}", "--Smtp:Listen:0=127.0.0.1:0", "--Relay:Hostname=mx.test"];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
            await _mailboxStore.DisposeAsync();
            await _spool.DisposeAsync();
        }
        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Loopback is not trusted here, so a domain is accepted only when it is local.</summary>
    private void WriteConfig(string localDomains, string extra = "") => File.WriteAllText(ConfigFile,
        $$"""{ "Relay": { "LocalDomains": [{{localDomains}}], "TrustedNetworks": ["192.0.2.0/24"] }{{extra}} }""");

    private void Start()
    {
        var configuration = SettingsLoader.Load(ConfigFile, Overrides);
        Directory.CreateDirectory(configuration.DataDirectory);
        _spool = RunCommand.Open(configuration, NullLoggerFactory.Instance, TimeProvider.System);
        _mailboxStore = MailboxStore.Open(new SpoolOptions { Directory = configuration.MailboxDirectory, FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var users = new UserStore(configuration.DataDirectory);
        var mailboxes = SettingsLoader.CreateMailboxDirectory(configuration, users, _mailboxStore);
        _server = new SmtpServer(SettingsLoader.CreateSmtpOptions(configuration),
            new RelayPolicy(configuration.LocalDomains, configuration.RelayDomains, configuration.TrustedNetworks),
            users, _spool, NullLoggerFactory.Instance, TimeProvider.System) { Mailboxes = mailboxes };
        _server.Start();
        _reloader = new ConfigurationReloader(() => SettingsLoader.Load(ConfigFile, Overrides), configuration, _server, null, mailboxes, users, _log);
    }

    private int Port => _server.BoundEndPoints[0].Port;

    [Fact]
    public async Task NewSessionsSeeANewLocalDomainWhileAnOpenSessionKeepsItsPolicy()
    {
        WriteConfig("\"old.test\"");
        Start();
        await using var open = await LineClient.ConnectAsync(Port);
        await open.TransactionAsync();
        Assert.StartsWith("554", await open.CommandAsync("RCPT TO:<postmaster@new.test>"));

        WriteConfig("\"old.test\", \"new.test\"");
        Assert.True(_reloader.Reload());

        Assert.StartsWith("554", await open.CommandAsync("RCPT TO:<postmaster@new.test>")); // accepted before the reload
        Assert.StartsWith("250", await open.CommandAsync("RCPT TO:<postmaster@old.test>"));
        await using var fresh = await LineClient.ConnectAsync(Port);
        await fresh.TransactionAsync();
        Assert.StartsWith("250", await fresh.CommandAsync("RCPT TO:<postmaster@new.test>"));
        Assert.Contains(_log.Lines, l => l.Contains("Configuration reloaded", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("\"not a domain\"", "", "Relay:LocalDomains:0")]
    [InlineData("\"new.test\"", ", \"Smtp\": { \"MaxRecipients\": 5 }", "Smtp:MaxRecipients")]
    [InlineData("\"new.test\"", ", \"Smtp\": { \"NoSuchKey\": 1 }", "NoSuchKey")]
    public async Task AnInvalidConfigurationIsRefusedAndTheOldOneStays(string localDomains, string extra, string namedKey)
    {
        WriteConfig("\"old.test\"");
        Start();

        WriteConfig(localDomains, extra);
        Assert.False(_reloader.Reload());

        Assert.Contains(_log.Lines, l => l.StartsWith("Error: ", StringComparison.Ordinal) && l.Contains(namedKey, StringComparison.Ordinal));
        await using var client = await LineClient.ConnectAsync(Port);
        await client.TransactionAsync();
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<postmaster@old.test>"));
        Assert.StartsWith("554", await client.CommandAsync("RCPT TO:<postmaster@new.test>"));
        Assert.Equal(["old.test"], _reloader.Current.LocalDomains);
    }

    [Fact]
    public async Task ABrokenJsonFileIsRefused()
    {
        WriteConfig("\"old.test\"");
        Start();
        File.WriteAllText(ConfigFile, "{ \"Relay\": ");

        Assert.False(_reloader.Reload());
        await using var client = await LineClient.ConnectAsync(Port);
        await client.TransactionAsync();
        Assert.StartsWith("250", await client.CommandAsync("RCPT TO:<postmaster@old.test>"));
    }

    [Fact]
    public async Task SettingsThatNeedARestartAreNamedAndLimitsApply()
    {
        WriteConfig("\"old.test\"");
        Start();

        WriteConfig("\"old.test\"", ", \"Delivery\": { \"MxPort\": 2525 }, \"Smtp\": { \"MaxMessageSize\": 5000 }");
        Assert.True(_reloader.Reload());

        Assert.Contains("Warning: Delivery:MxPort changed: takes effect after a restart", _log.Lines);
        Assert.DoesNotContain(_log.Lines, l => l.Contains("Smtp:MaxMessageSize changed", StringComparison.Ordinal));
        await using var client = await LineClient.ConnectAsync(Port);
        Assert.Contains("250-SIZE 5000\r\n", await client.CommandAsync("EHLO c"));
    }

    [Fact]
    public async Task ANewCertificateIsUsedByTheNextStartTls()
    {
        var (certA, keyA, thumbA) = WritePem("a");
        var (certB, keyB, thumbB) = WritePem("b");
        WriteConfig("\"old.test\"", $$""", "Tls": { "CertificateFile": "{{certA}}", "KeyFile": "{{keyA}}" }""");
        Start();
        Assert.Equal(thumbA, await StartTlsThumbprintAsync());

        WriteConfig("\"old.test\"", $$""", "Tls": { "CertificateFile": "{{certB}}", "KeyFile": "{{keyB}}" }""");
        Assert.True(_reloader.Reload());

        Assert.Equal(thumbB, await StartTlsThumbprintAsync());
    }

    private (string Cert, string Key, string Thumbprint) WritePem(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=mx.test", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        var cert = Path.Combine(_directory, name + ".crt");
        var keyFile = Path.Combine(_directory, name + ".key");
        File.WriteAllText(cert, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (cert, keyFile, certificate.Thumbprint);
    }

    private async Task<string> StartTlsThumbprintAsync()
    {
        await using var client = await LineClient.ConnectAsync(Port);
        Assert.StartsWith("250", await client.CommandAsync("EHLO c"));
        Assert.StartsWith("220", await client.CommandAsync("STARTTLS"));
        string? thumbprint = null;
        await using var tls = new SslStream(client.Stream, leaveInnerStreamOpen: true, (_, certificate, _, _) =>
        {
            thumbprint = certificate!.GetCertHashString();
            return true;
        });
        await tls.AuthenticateAsClientAsync("mx.test");
        return thumbprint!;
    }

    /// <summary>A line-at-a-time SMTP client; replies are read up to their last line.</summary>
    private sealed class LineClient : IAsyncDisposable
    {
        private readonly TcpClient _tcp;

        private LineClient(TcpClient tcp)
        {
            _tcp = tcp;
            Stream = tcp.GetStream();
        }

        public NetworkStream Stream { get; }

        public static async Task<LineClient> ConnectAsync(int port)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", port);
            var client = new LineClient(tcp);
            Assert.StartsWith("220", await client.ReadReplyAsync());
            return client;
        }

        public async Task TransactionAsync()
        {
            Assert.StartsWith("250", await CommandAsync("EHLO c"));
            Assert.StartsWith("250", await CommandAsync("MAIL FROM:<a@example.org>"));
        }

        public async Task<string> CommandAsync(string line)
        {
            await Stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(line + "\r\n"));
            return await ReadReplyAsync();
        }

        private async Task<string> ReadReplyAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var lines = new List<string>();
            while (true)
            {
                // Byte by byte: nothing may be buffered past the 220 that precedes a TLS handshake.
                var line = await ReadLineAsync(timeout.Token);
                lines.Add(line);
                if (line.Length < 4 || line[3] == ' ')
                {
                    return string.Join("\r\n", lines);
                }
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken token)
        {
            var bytes = new List<byte>();
            var one = new byte[1];
            while (await Stream.ReadAsync(one, token) == 1)
            {
                if (one[0] == '\n')
                {
                    break;
                }
                if (one[0] != '\r')
                {
                    bytes.Add(one[0]);
                }
            }
            return System.Text.Encoding.ASCII.GetString(bytes.ToArray());
        }

        public ValueTask DisposeAsync()
        {
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class CapturingLogger : ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines)
            {
                Lines.Add($"{logLevel}: {formatter(state, exception)}");
            }
        }
    }
}
