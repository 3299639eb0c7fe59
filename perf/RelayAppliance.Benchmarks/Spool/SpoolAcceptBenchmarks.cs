using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Spool;

namespace RelayAppliance.Benchmarks.Spool;

/// <summary>
/// Accept path of the spool on a temp folder: a 1 KiB body and one recipient, durable in both logs (B commit,
/// then J commit) before AcceptAsync returns. Each invocation accepts 256 messages spread over
/// <see cref="Acceptors"/> concurrent sessions, so the reported time is per message: with 1 acceptor it is the
/// latency of one durable accept, with 64 it is the group-commit throughput (1 / mean).
/// </summary>
[MemoryDiagnoser]
public class SpoolAcceptBenchmarks
{
    private const int MessagesPerInvoke = 256;
    private static readonly byte[] Body = CreateBody();

    private string _directory = string.Empty;
    private MessageSpool _spool = null!;
    private Session[] _sessions = [];

    [Params(1, 64)]
    public int Acceptors { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _directory = Path.Combine(Path.GetTempPath(), "relay-spool-bench", Guid.NewGuid().ToString("n"));
        _spool = MessageSpool.Open(new SpoolOptions { Directory = _directory, FreeSpaceFloorBytes = 0 }, NullLoggerFactory.Instance, TimeProvider.System);
        _sessions = [.. Enumerable.Range(0, Acceptors).Select(i => new Session(_spool, i))];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _spool.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke)]
    public Task Accept1KiB()
    {
        int perSession = MessagesPerInvoke / Acceptors;
        if (Acceptors == 1)
            return _sessions[0].RunAsync(perSession);
        var tasks = new Task[Acceptors];
        for (int i = 0; i < tasks.Length; i++)
            tasks[i] = _sessions[i].RunAsync(perSession);
        return Task.WhenAll(tasks);
    }

    private static byte[] CreateBody()
    {
        var body = new byte[1024];
        new Random(42).NextBytes(body);
        return body;
    }

    /// <summary>What one SMTP session owns: a reused body writer and envelope builder.</summary>
    private sealed class Session(MessageSpool spool, int index)
    {
        private readonly BodyWriter _writer = spool.CreateBodyWriter();
        private readonly EnvelopeBuilder _envelope = CreateEnvelope(index);
        private readonly byte[] _recipient = System.Text.Encoding.ASCII.GetBytes($"user{index}@example.net");

        public async Task RunAsync(int count)
        {
            for (int i = 0; i < count; i++)
            {
                _envelope.Reset();
                _envelope.SetSender("sender@example.org"u8, smtpUtf8: false, eightBitMime: true);
                _envelope.AddRecipient(_recipient, RecipientRoute.Remote);
                Body.CopyTo(_writer.GetSpan());
                _writer.Advance(Body.Length);
                await spool.AcceptAsync(_writer, _envelope, CancellationToken.None).ConfigureAwait(false);
            }
        }

        private static EnvelopeBuilder CreateEnvelope(int index)
        {
            var envelope = new EnvelopeBuilder();
            envelope.SetSession($"192.0.2.{index % 250}", "client.example.org", null, tls: false);
            return envelope;
        }
    }
}
