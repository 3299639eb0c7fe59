using System.Net;
using Microsoft.Extensions.Time.Testing;
using RelayAppliance.Server.Pop3;

namespace RelayAppliance.Server.Tests.Pop3;

public sealed class LoginThrottleTests
{
    [Fact]
    public void AnAddressIsBlockedAfterItsBudgetUntilTheWindowPasses()
    {
        var time = new FakeTimeProvider();
        var throttle = new LoginThrottle(maxFailures: 3, window: TimeSpan.FromMinutes(5), time);
        var attacker = IPAddress.Parse("192.0.2.1");
        var other = IPAddress.Parse("192.0.2.2");
        for (var i = 0; i < 3; i++)
        {
            Assert.False(throttle.IsBlocked(attacker));
            throttle.RecordFailure(attacker);
        }
        Assert.True(throttle.IsBlocked(attacker));
        Assert.False(throttle.IsBlocked(other));

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.True(throttle.IsBlocked(attacker));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(throttle.IsBlocked(attacker));
        throttle.RecordFailure(attacker); // a new window starts with one failure
        Assert.False(throttle.IsBlocked(attacker));
    }
}
