import Collector
