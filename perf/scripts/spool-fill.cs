#:project ../../src/RelayAppliance.Spool/RelayAppliance.Spool.csproj
#:property PublishAot=false
// Fills a spool directly through the MessageSpool API (64 concurrent acceptors, 1 KiB messages to deferred.test):
// a million queued messages in about a minute, for restart-time A/B runs (perf/scripts/restart-time.sh).
//   dotnet run perf/scripts/spool-fill.cs -- DATA/spool COUNT      (relayd stopped)
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RelayAppliance.Spool;

var dir = args[0];
var count = int.Parse(args[1]);
var spool = MessageSpool.Open(new SpoolOptions { Directory = dir, FreeSpaceFloorBytes = 0 }, NullLoggerFactory.Instance, TimeProvider.System);
var body = Encoding.ASCII.GetBytes("Subject: fill\r\n\r\n" + new string('x', 1000) + "\r\n");
var sw = Stopwatch.StartNew();
int next = 0;
var tasks = Enumerable.Range(0, 64).Select(async _ =>
{
    var envelope = new EnvelopeBuilder();
    while (Interlocked.Increment(ref next) <= count)
    {
        envelope.Reset();
        envelope.SetSession("127.0.0.1", "fill", null, false);
        envelope.SetSender("load@source.test"u8, false, false);
        envelope.AddRecipient("user@deferred.test"u8, RecipientRoute.Remote);
        var w = spool.CreateBodyWriter();
        body.CopyTo(w.GetSpan());
        w.Advance(body.Length);
        await spool.AcceptAsync(w, envelope, CancellationToken.None);
    }
}).ToArray();
await Task.WhenAll(tasks);
Console.WriteLine($"{count} in {sw.Elapsed.TotalSeconds:F1} s");
await spool.DisposeAsync();
