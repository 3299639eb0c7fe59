using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Server.Policy;
using RelayAppliance.Server.Accounts;
using RelayAppliance.Server.Smtp;
using RelayAppliance.Spool;

namespace RelayAppliance.Testing;

/// <summary>
/// The real <see cref="SmtpSession"/> over an in-memory duplex pipe (no sockets) and a real
/// <see cref="MessageSpool"/>: one call runs a whole session (220, EHLO, MAIL, RCPT, DATA with a 1 KiB body, QUIT).
/// Both pipes run continuations inline, so the client and the session take turns on the caller's thread, except
/// after the spool's commit (its completion runs the rest of the session). The pipes are reused (reset) between
/// sessions, so what a run allocates is the session's own cost plus the spool's per message.
/// Shared by perf/RelayAppliance.Benchmarks (Session/EmbeddedSessionBenchmarks) and the Server tests' allocation budget.
/// </summary>
internal sealed class EmbeddedSmtpTransaction : IAsyncDisposable
{
    private static readonly PipeOptions Inline = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: 0, useSynchronizationContext: false);

    private readonly Pipe _toServer = new(Inline);
    private readonly Pipe _toClient = new(Inline);
    private readonly DuplexPipe _serverSide;
    private readonly string _directory;
    private readonly MessageSpool _spool;
    private readonly SmtpServer _server;
    private readonly byte[][] _lockstep;
    private readonly byte[][] _pipelined;
    private readonly byte[][] _noMail;

    /// <param name="spoolParent">Where the spool's temp folder goes: a disk folder (durable commit = fsync) or /dev/shm.</param>
    public EmbeddedSmtpTransaction(string spoolParent, int bodySize = 1024)
    {
        _directory = Path.Combine(spoolParent, "relay-session-bench-" + Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(_directory);
        _spool = MessageSpool.Open(new SpoolOptions { Directory = Path.Combine(_directory, "spool"), FreeSpaceFloorBytes = 0 },
            NullLoggerFactory.Instance, TimeProvider.System);
        var options = new SmtpServerOptions
        {
            Endpoints = [new ListenEndpoint(new IPEndPoint(IPAddress.Loopback, 0), false)],
            Hostname = "mx.bench.test",
        };
        var policy = new RelayPolicy(["local.test"], ["relay.test"], [IPNetwork.Parse("127.0.0.0/8")]);
        _server = new SmtpServer(options, policy, new UserStore(_directory), _spool, NullLoggerFactory.Instance, TimeProvider.System);
        _serverSide = new DuplexPipe(_toServer.Reader, _toClient.Writer);

        byte[] ehlo = Ascii("EHLO client.example.org\r\n");
        byte[] mail = Ascii($"MAIL FROM:<alice.sender@example.org> SIZE={bodySize + 3}\r\n");
        byte[] rcpt = Ascii("RCPT TO:<bob.recipient@relay.test>\r\n");
        byte[] data = Ascii("DATA\r\n");
        byte[] body = Body(bodySize);
        byte[] quit = Ascii("QUIT\r\n");
        // One element per client write; the client waits for one final reply per command in it.
        _lockstep = [ehlo, mail, rcpt, data, body, quit];
        // RFC 2920: EHLO alone, then MAIL+RCPT+DATA as one group, then the body with QUIT after the final dot.
        _pipelined = [ehlo, [.. mail, .. rcpt, .. data], [.. body, .. quit]];
        _noMail = [ehlo, quit];
    }

    /// <summary>Final replies of the last run, in order (220, 250 EHLO, …, 221): for tests to check the run did what it says.</summary>
    public int[] LastCodes { get; } = new int[8];

    /// <summary>One session, one command per write; returns the number of final replies (7).</summary>
    public Task<int> RunLockstepAsync() => RunAsync(_lockstep, [1, 1, 1, 1, 1, 1]);

    /// <summary>One session, pipelined as an RFC 2920 client would; returns the number of final replies (7).</summary>
    public Task<int> RunPipelinedAsync() => RunAsync(_pipelined, [1, 3, 2]);

    /// <summary>A session without mail (220, EHLO, QUIT): the per-connection part of the cost; returns 3.</summary>
    public Task<int> RunWithoutMailAsync() => RunAsync(_noMail, [1, 1]);

    private async Task<int> RunAsync(byte[][] writes, int[] repliesPerWrite)
    {
        var session = new SmtpSession(_server, _serverSide, IPAddress.Loopback);
        Task run = session.RunAsync();
        int replies = await ReadRepliesAsync(1, 0).ConfigureAwait(false); // 220
        for (int i = 0; i < writes.Length; i++)
        {
            await _toServer.Writer.WriteAsync(writes[i]).ConfigureAwait(false);
            replies += await ReadRepliesAsync(repliesPerWrite[i], replies).ConfigureAwait(false);
        }

        await run.ConfigureAwait(false);
        await _toServer.Writer.CompleteAsync().ConfigureAwait(false);
        await _toClient.Reader.CompleteAsync().ConfigureAwait(false);
        _toServer.Reset(); // both ends are complete now: ready for the next session
        _toClient.Reset();
        return replies;
    }

    /// <summary>Reads until <paramref name="count"/> final reply lines ("ddd " lines) have arrived; records their codes.</summary>
    private async ValueTask<int> ReadRepliesAsync(int count, int index)
    {
        int seen = 0;
        PipeReader reader = _toClient.Reader;
        while (seen < count)
        {
            ReadResult result = await reader.ReadAsync().ConfigureAwait(false);
            var lines = new SequenceReader<byte>(result.Buffer);
            while (seen < count && lines.TryReadTo(out ReadOnlySequence<byte> line, (byte)'\n'))
            {
                if (line.Length >= 4 && IsFinal(line, out int code))
                {
                    if (index + seen < LastCodes.Length)
                    {
                        LastCodes[index + seen] = code;
                    }

                    seen++;
                }
            }

            reader.AdvanceTo(lines.Position, result.Buffer.End);
            if (seen < count && result.IsCompleted)
            {
                throw new InvalidOperationException($"the session closed after {index + seen} replies");
            }
        }

        return seen;
    }

    private static bool IsFinal(in ReadOnlySequence<byte> line, out int code)
    {
        Span<byte> head = stackalloc byte[4];
        line.Slice(0, 4).CopyTo(head);
        code = (head[0] - '0') * 100 + (head[1] - '0') * 10 + (head[2] - '0');
        return head[3] == (byte)' ';
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    // Headers, then 76-character lines (every 20th dot-stuffed) up to the size, then the terminator.
    private static byte[] Body(int size)
    {
        var text = new StringBuilder(size + 128);
        text.Append("From: Alice <alice.sender@example.org>\r\nTo: Bob <bob.recipient@relay.test>\r\nSubject: benchmark\r\n\r\n");
        int line = 0;
        while (text.Length < size - 80)
        {
            text.Append(line++ % 20 == 0 ? ".." : "xx").Append('x', 72).Append("\r\n");
        }

        text.Append('y', Math.Max(0, size - text.Length - 2)).Append("\r\n.\r\n");
        return Ascii(text.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await _spool.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
