using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using RelayAppliance.Host.LogOutput;

namespace RelayAppliance.Host.Tests.LogOutput;

/// <summary>relayd's log lines: both formats, one line per event, every line written, and written in batches.</summary>
public sealed class LogOutputTests
{
    /// <summary>A stream that records each Write call (one call = one system call on stderr).</summary>
    private sealed class RecordingStream : Stream
    {
        private readonly MemoryStream _data = new();
        public int Writes;

        public string Text { get { lock (_data) { return Encoding.UTF8.GetString(_data.ToArray()); } } }

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (_data)
            {
                _data.Write(buffer, offset, count);
                Writes++;
            }
        }

        public override void Flush() { }
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private static readonly DateTimeOffset Now = new(2026, 11, 29, 7, 51, 54, 338, TimeSpan.Zero);

    private static string[] Log(bool journal, Action<ILogger> log)
    {
        var output = new RecordingStream();
        using (var factory = LoggerFactory.Create(builder =>
            LineLoggerProvider.AddTo(builder, output, journal, new FakeTimeProvider(Now)).SetMinimumLevel(LogLevel.Trace)))
        {
            log(factory.CreateLogger("RelayAppliance.Smtp"));
        } // disposing the factory writes what is pending
        Assert.EndsWith("\n", output.Text);
        return output.Text.Split('\n')[..^1];
    }

    /// <summary>One event of every level that relayd logs at.</summary>
    private static void LogEachLevel(ILogger logger)
    {
        logger.LogInformation(new EventId(1002), "001a22649fd65001: from=<{Sender}>, size={Size}", "a@source.test", 285);
        logger.LogWarning(new EventId(7), "low disk");
        logger.LogError(new EventId(8), "failed");
        logger.LogCritical(new EventId(9), "down");
        logger.LogDebug(new EventId(10), "detail");
    }

    [Fact]
    public void Plain_lines_carry_a_UTC_timestamp_the_level_the_category_and_the_event_id()
    {
        Assert.Equal(
        [
            "2026-11-29T07:51:54.338Z info: RelayAppliance.Smtp[1002] 001a22649fd65001: from=<a@source.test>, size=285",
            "2026-11-29T07:51:54.338Z warn: RelayAppliance.Smtp[7] low disk",
            "2026-11-29T07:51:54.338Z fail: RelayAppliance.Smtp[8] failed",
            "2026-11-29T07:51:54.338Z crit: RelayAppliance.Smtp[9] down",
            "2026-11-29T07:51:54.338Z dbug: RelayAppliance.Smtp[10] detail",
        ], Log(journal: false, LogEachLevel));
    }

    [Fact]
    public void Journal_lines_start_with_the_syslog_priority_and_have_no_timestamp()
    {
        Assert.Equal(
        [
            "<6>RelayAppliance.Smtp[1002] 001a22649fd65001: from=<a@source.test>, size=285",
            "<4>RelayAppliance.Smtp[7] low disk",
            "<3>RelayAppliance.Smtp[8] failed",
            "<2>RelayAppliance.Smtp[9] down",
            "<7>RelayAppliance.Smtp[10] detail",
        ], Log(journal: true, LogEachLevel));
    }

    [Fact]
    public void An_event_stays_one_line_even_with_line_breaks_in_its_text_or_exception()
    {
        Exception thrown;
        try
        {
            throw new InvalidOperationException("first\nsecond");
        }
        catch (InvalidOperationException e)
        {
            thrown = e;
        }

        var lines = Log(journal: true, logger =>
        {
            logger.LogError(new EventId(1), thrown, "client said {Text}", "HELO\r\nMAIL");
            logger.LogInformation(new EventId(2), "next");
        });

        Assert.Equal(2, lines.Length);
        Assert.StartsWith("<3>RelayAppliance.Smtp[1] client said HELO  MAIL System.InvalidOperationException: first second", lines[0]);
        Assert.Contains(" at ", lines[0]); // the stack trace, on the same line
        Assert.Equal("<6>RelayAppliance.Smtp[2] next", lines[1]);
    }

    [Fact]
    public async Task Lines_from_many_threads_are_all_written_whole_and_in_far_fewer_writes()
    {
        const int Threads = 4, PerThread = 5000;
        var output = new RecordingStream();
        using (var factory = LoggerFactory.Create(builder => LineLoggerProvider.AddTo(builder, output, journal: true, TimeProvider.System)))
        {
            var logger = factory.CreateLogger("t");
            await Task.WhenAll(Enumerable.Range(0, Threads).Select(t => Task.Run(() =>
            {
                for (int i = 0; i < PerThread; i++)
                {
                    logger.LogInformation("thread {Thread} line {Line} ünïcode", t, i);
                }
            })));
        }

        var lines = output.Text.Split('\n')[..^1];
        Assert.Equal(Threads * PerThread, lines.Length);
        Assert.All(lines, line => Assert.Matches(new Regex(@"^<6>t\[0\] thread \d line \d+ ünïcode$"), line));
        for (int t = 0; t < Threads; t++)
        {
            // Each thread's lines in the order it logged them.
            var numbers = lines.Where(l => l.StartsWith($"<6>t[0] thread {t} ", StringComparison.Ordinal))
                .Select(l => int.Parse(l.Split(' ')[4])).ToArray();
            Assert.Equal(Enumerable.Range(0, PerThread), numbers);
        }
        // Batched: 20,000 lines logged as fast as four threads can, in a small fraction of that many writes.
        Assert.True(output.Writes < Threads * PerThread / 20, $"{output.Writes} writes for {Threads * PerThread} lines");
    }

    [Fact]
    public async Task A_single_line_reaches_the_output_without_waiting_for_more()
    {
        var output = new RecordingStream();
        using var writer = new LogLineWriter(output);

        writer.WriteLine("<6>x[0]"u8, "alone", exception: null);

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (output.Text.Length == 0 && waited.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(5);
        }
        Assert.Equal("<6>x[0] alone\n", output.Text);
    }
}
