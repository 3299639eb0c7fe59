using System.Buffers;
using System.Text;
using RelayAppliance.Protocol.Pop3;
using RelayAppliance.Protocol.Smtp;
using RelayAppliance.Testing;

namespace RelayAppliance.Protocol.Tests;

/// <summary>
/// Checks the hot operations against perf/allocation-budgets.json: each runs many times after a warm-up and the bytes
/// it allocated on this thread (GC.GetAllocatedBytesForCurrentThread) per run must not exceed its budget. Inputs and
/// call sequences are those of perf/RelayAppliance.Benchmarks (Parsing/*, Pop3/*), so a budget here and the
/// "Allocated" column there describe the same work.
/// </summary>
public sealed class AllocationBudgetTests
{
    private const int WarmUp = 200;
    private const int Iterations = 2_000;
    // A real per-operation allocation shows in every round; a one-off runtime allocation (tiering, a static
    // initialiser) does not. The best of a few rounds is what the operation itself costs.
    private const int Rounds = 3;
    private const int MaxCommandLine = 512; // RFC 5321 §4.5.3.1.4

    public static TheoryData<string> Operations()
    {
        var data = new TheoryData<string>();
        foreach (string name in HotOperations.All.Keys.Order(StringComparer.Ordinal))
        {
            data.Add(name);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public void OperationStaysWithinItsAllocationBudget(string operation)
    {
        IReadOnlyDictionary<string, long> budgets = Budgets.Load();
        Assert.True(budgets.TryGetValue(operation, out long budget), $"{operation} has no entry in {Budgets.FileName}.");

        Func<long> run = HotOperations.All[operation];
        double bytesPerOp = Measure(run);

        Assert.True(bytesPerOp <= budget,
            $"{operation} allocates {bytesPerOp:0.##} bytes per operation; its budget in {Budgets.FileName} is {budget} bytes.");
    }

    [Fact]
    public void EveryBudgetNamesAKnownOperation()
    {
        string[] unknown = [.. Budgets.Load().Keys.Where(name => !HotOperations.All.ContainsKey(name)).Order(StringComparer.Ordinal)];
        Assert.True(unknown.Length == 0, $"{Budgets.FileName} has budgets for operations no test runs: {string.Join(", ", unknown)}.");
    }

    [Fact]
    public void OperationsProduceTheExpectedResults()
    {
        // Guards the measurement against measuring nothing: each input parses, and each body decodes to its end.
        Assert.All(HotOperations.All, pair => Assert.True(pair.Value() > 0, $"{pair.Key} returned no result."));
    }

    [Fact]
    public void TheMeasurementSeesAnAllocation()
    {
        // The check above is only worth something if an allocating operation is caught.
        double bytesPerOp = Measure(() => new byte[16].Length);
        Assert.True(bytesPerOp >= 16, $"measured {bytesPerOp} bytes per 16-byte array");
    }

    private static double Measure(Func<long> run)
    {
        long sink = 0;
        for (int i = 0; i < WarmUp; i++)
        {
            sink += run();
        }

        long best = long.MaxValue;
        for (int round = 0; round < Rounds && best > 0; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Iterations; i++)
            {
                sink += run();
            }

            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        GC.KeepAlive(sink);
        return (double)best / Iterations;
    }

    private static class Budgets
    {
        public const string FileName = AllocationBudgetFile.FileName;

        private static readonly Lazy<IReadOnlyDictionary<string, long>> Loaded =
            new(() => AllocationBudgetFile.Read("RelayAppliance.Protocol.Tests"));

        public static IReadOnlyDictionary<string, long> Load() => Loaded.Value;
    }

    private static class HotOperations
    {
        public static readonly IReadOnlyDictionary<string, Func<long>> All = Build();

        private static Dictionary<string, Func<long>> Build()
        {
            // perf/RelayAppliance.Benchmarks/Parsing/CommandParsingBenchmarks.cs and PipelinedParsingBenchmarks.cs
            byte[] burst = BenchmarkInputs.PipelinedBurst();
            ReadOnlySequence<byte> contiguousBurst = new(burst);
            ReadOnlySequence<byte> splitBurst = RelayAppliance.Testing.BufferSegments.Split(burst, 64);

            // perf/RelayAppliance.Benchmarks/Parsing/DataBodyParseBenchmarks.cs (the 1 KiB body is new here)
            byte[] body1K = BenchmarkInputs.DataBody(1024);
            byte[] body64K = BenchmarkInputs.DataBody(64 * 1024);
            byte[] plain64K = BenchmarkInputs.DataBody(64 * 1024, withDotLines: false);
            byte[] unstuffOutput = new byte[16 * 1024];

            // perf/RelayAppliance.Benchmarks/Pop3/Pop3EncoderBenchmarks.cs, Size = 64 KiB
            byte[] message = BenchmarkInputs.Pop3Message(64 * 1024);
            var encoderOutput = new ArrayBufferWriter<byte>(message.Length + message.Length / 10 + 64);

            return new Dictionary<string, Func<long>>(StringComparer.Ordinal)
            {
                ["smtp.parse.ehlo"] = SmtpLine("EHLO client.example.org\r\n"),
                ["smtp.parse.mail-from-size-body"] = SmtpLine("MAIL FROM:<alice.sender@example.org> SIZE=48213 BODY=8BITMIME\r\n"),
                ["smtp.parse.rcpt-to"] = SmtpLine("RCPT TO:<bob.recipient@mail.example.com>\r\n"),
                ["smtp.parse.data"] = SmtpLine("DATA\r\n"),
                ["smtp.parse.rset"] = SmtpLine("RSET\r\n"),
                ["smtp.parse.noop"] = SmtpLine("NOOP\r\n"),
                ["smtp.parse.quit"] = SmtpLine("QUIT\r\n"),
                ["smtp.parse.pipelined-burst"] = () => ParseAllSmtp(contiguousBurst),
                ["smtp.parse.pipelined-burst-64-byte-segments"] = () => ParseAllSmtp(splitBurst),
                ["smtp.data.unstuff-1KiB-in-100-byte-pieces"] = () => Unstuff(body1K, 100, normalize: false, unstuffOutput),
                ["smtp.data.unstuff-64KiB-in-4KiB-pieces"] = () => Unstuff(body64K, 4096, normalize: false, unstuffOutput),
                ["smtp.data.unstuff-64KiB-in-4KiB-pieces-normalise"] = () => Unstuff(body64K, 4096, normalize: true, unstuffOutput),
                ["smtp.data.unstuff-64KiB-without-dot-lines-in-4KiB-pieces"] = () => Unstuff(plain64K, 4096, normalize: false, unstuffOutput),
                ["pop3.parse.user"] = Pop3Line("USER alice.recipient@mail.example.com\r\n"),
                ["pop3.parse.pass"] = Pop3Line("PASS correct horse battery staple\r\n"),
                ["pop3.parse.auth-plain"] = Pop3Line("AUTH PLAIN AGFsaWNlQGxvY2FsaG9zdABjb3JyZWN0IGhvcnNl\r\n"),
                ["pop3.parse.stat"] = Pop3Line("STAT\r\n"),
                ["pop3.parse.list-one"] = Pop3Line("LIST 1234\r\n"),
                ["pop3.parse.uidl"] = Pop3Line("UIDL\r\n"),
                ["pop3.parse.retr"] = Pop3Line("RETR 1234\r\n"),
                ["pop3.parse.top"] = Pop3Line("TOP 1234 10\r\n"),
                ["pop3.parse.dele"] = Pop3Line("DELE 1234\r\n"),
                ["pop3.parse.quit"] = Pop3Line("QUIT\r\n"),
                ["pop3.parse.top-segment-per-byte"] = Pop3Line("TOP 1234 10\r\n", segmentPerByte: true),
                ["pop3.retr.encode-64KiB-in-16KiB-reads"] = () => EncodeRetr(message, encoderOutput),
            };
        }

        private static Func<long> SmtpLine(string text)
        {
            ReadOnlySequence<byte> buffer = new(Encoding.ASCII.GetBytes(text));
            return () => ParseAllSmtp(buffer);
        }

        private static Func<long> Pop3Line(string text, bool segmentPerByte = false)
        {
            byte[] bytes = Encoding.ASCII.GetBytes(text);
            ReadOnlySequence<byte> buffer = segmentPerByte ? TestSequences.SegmentPerByte(bytes) : new(bytes);
            return () => ParsePop3(buffer);
        }

        // Every complete line in the buffer, as the session's read loop does (CommandParsingBenchmarks.ParseNext).
        private static long ParseAllSmtp(ReadOnlySequence<byte> buffer)
        {
            var reader = new SequenceReader<byte>(buffer);
            long sum = 0;
            Span<byte> scratch = stackalloc byte[MaxCommandLine];
            while (SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out ReadOnlySequence<byte> line, out _) == LineStatus.Complete)
            {
                ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(line, scratch);
                SmtpVerb verb = SmtpCommandParser.ParseVerb(span, out ReadOnlySpan<byte> arguments);
                sum += 1 + (int)verb;
                switch (verb)
                {
                    case SmtpVerb.Helo or SmtpVerb.Ehlo:
                        sum += SmtpCommandParser.TryParseHelo(arguments, out Range domain) == SmtpArgumentError.None ? domain.End.Value : -1_000;
                        break;
                    case SmtpVerb.Mail:
                        sum += SmtpCommandParser.TryParseMailFrom(arguments, out MailFromCommand mail) == SmtpArgumentError.None
                            ? mail.DeclaredSize + mail.Address.End.Value : -1_000;
                        break;
                    case SmtpVerb.Rcpt:
                        sum += SmtpCommandParser.TryParseRcptTo(arguments, smtpUtf8: false, out RcptToCommand rcpt) == SmtpArgumentError.None
                            ? rcpt.Address.End.Value : -1_000;
                        break;
                }
            }

            return reader.End ? sum : -1;
        }

        private static long ParsePop3(ReadOnlySequence<byte> buffer)
        {
            var reader = new SequenceReader<byte>(buffer);
            if (SmtpLineReader.TryReadLine(ref reader, MaxCommandLine, out ReadOnlySequence<byte> line, out _) != LineStatus.Complete)
            {
                return -1;
            }

            Span<byte> scratch = stackalloc byte[MaxCommandLine];
            ReadOnlySpan<byte> span = SmtpLineReader.GetLineSpan(line, scratch);
            if (Pop3CommandParser.TryParse(span, out Pop3Command command) != Pop3CommandError.None)
            {
                return -1;
            }

            return 1 + (int)command.Verb + command.MessageNumber + command.Lines + command.Argument.End.Value;
        }

        private static long Unstuff(byte[] body, int piece, bool normalize, byte[] output)
        {
            var unstuffer = new DotUnstuffer(normalize, maxLineLength: 1000);
            ReadOnlySpan<byte> input = body;
            long total = 0;
            while (true)
            {
                DataStatus status = unstuffer.Process(input[..Math.Min(piece, input.Length)], output, out int consumed, out int written);
                input = input[consumed..];
                total += written;
                if (status == DataStatus.EndOfData)
                {
                    return total;
                }

                if (status == DataStatus.NeedMoreInput && input.IsEmpty)
                {
                    return -1;
                }
            }
        }

        private static long EncodeRetr(byte[] message, ArrayBufferWriter<byte> output)
        {
            const int ReadSize = 16 * 1024;
            output.ResetWrittenCount();
            var encoder = Pop3MessageEncoder.ForRetr();
            for (int offset = 0; offset < message.Length; offset += ReadSize)
            {
                encoder.Write(message.AsSpan(offset, Math.Min(ReadSize, message.Length - offset)), output);
            }

            encoder.Complete(output);
            return output.WrittenCount;
        }
    }
}
