using RelayAppliance.Host.Commands;
using RelayAppliance.Spool;

namespace RelayAppliance.Host.Tests;

public sealed class QueueSummaryTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static QueuedMessageInfo Message(TimeSpan age, params (string Address, RecipientState State)[] recipients) => new(
        new MessageId(1), "a@example.org", recipients.Select(r => new RecipientInfo(r.Address, RecipientRoute.Remote, r.State)).ToList(),
        100, Now - age, "127.0.0.1", "c", null, false, false, false);

    [Fact]
    public void CountsPendingRecipientsByDomainAndAge()
    {
        var messages = new[]
        {
            Message(TimeSpan.FromMinutes(1), ("a@slow.test", RecipientState.Deferred), ("b@SLOW.test", RecipientState.Queued)),
            Message(TimeSpan.FromMinutes(30), ("c@slow.test", RecipientState.Deferred), ("d@fast.test", RecipientState.Delivered)),
            Message(TimeSpan.FromDays(2), ("e@old.test", RecipientState.Deferred)),
        };
        var table = QueueSummary.Render(messages, Now, json: false).Split('\n');
        Assert.Matches(@"^\s*TOTAL\s+4\s+2\s+0\s+0\s+1\s+0\s+0\s+0\s+0\s+0\s+1$", table[1]);
        Assert.Matches(@"^\s*slow\.test\s+3\s+2\s+0\s+0\s+1(\s+0){5}\s+0$", table[2]);
        Assert.DoesNotContain(table, line => line.Contains("fast.test", StringComparison.Ordinal)); // delivered: not pending

        var json = QueueSummary.Render(messages, Now, json: true);
        Assert.Contains("\"domain\":\"old.test\",\"recipients\":1,\"byAge\":[0,0,0,0,0,0,0,0,0,1]", json);
    }
}
